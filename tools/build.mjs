// Builds dist/ (tsc -p tsconfig.build.json, incremental) and stamps it.
//
// Usage: node tools/build.mjs             build (what `npm run build` runs)
//        node tools/build.mjs --if-stale  build only when dist/ is stale; silent when it is not
//
// `npm run plan`, `bench`, `gen:config`, `test:engine`, `preview`, `up` and `deploy:local` run
// `--if-stale` first, so a call with no source changed starts the program at once instead of
// spending 20-60 s in tsc. Whether dist/ is stale is decided by lib/stale-build.ts (its compiled
// copy in dist/: when that is missing or cannot answer, dist/ counts as stale). The build's stamp
// (dist/.build-stamp) carries the time the build started, so a source saved during a build makes
// the next call build again. Builds are serialised by a lock directory (dist/.build-lock): two
// plans started at once do not write the same files together, and the second one reuses the
// first one's build. Everything this prints goes to stderr (tsc's diagnostics included), so
// `npm run -s plan -- <stack> --json` keeps stdout for the JSON document alone.
// Exit status: tsc's (0 built or fresh, 1 or 2 on errors); 2 on bad arguments.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist");
const STAMP = join(DIST, ".build-stamp");
const LOCK = join(DIST, ".build-lock");
const BUILD_INFO = join(DIST, ".tsbuildinfo"); // tsconfig.build.json: tsBuildInfoFile
const require = createRequire(import.meta.url);

const say = (line) => process.stderr.write(`build: ${line}\n`);

/** Why dist/ must be built, from dist/lib/stale-build.js; undefined when it is up to date. */
function stale() {
  let check;
  try {
    // A fresh copy each time: the build in between may have replaced it.
    const path = require.resolve(join(DIST, "lib", "stale-build.js"));
    delete require.cache[path];
    check = require(path).staleBuild;
    if (typeof check !== "function") throw new Error("no staleBuild in it");
  } catch (error) {
    return {
      reason:
        error?.code === "MODULE_NOT_FOUND"
          ? "dist/ is not built"
          : `dist/ cannot say whether it is current (${error.message})`,
      full: true,
    };
  }
  try {
    return check(ROOT, "all");
  } catch (error) {
    return { reason: `dist/ cannot say whether it is current (${error.message})`, full: true };
  }
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

/** Takes dist/.build-lock; waits while a live build holds it, takes over a dead one's. */
function lock() {
  mkdirSync(DIST, { recursive: true });
  let told = false;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, "pid"), `${process.pid}\n`);
      return;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(join(LOCK, "pid"), "utf8"));
    } catch {
      // Between its mkdir and its pid file, or just released: look again.
    }
    const age = (() => {
      try {
        return Date.now() - statSync(LOCK).mtimeMs;
      } catch {
        return 0;
      }
    })();
    if (
      (Number.isInteger(holder) && holder > 0 && !alive(holder)) ||
      (Number.isNaN(holder) && age > 10_000)
    ) {
      say(
        `taking over the lock of a build that is gone (${Number.isNaN(holder) ? "no pid" : `pid ${holder}`})`,
      );
      rmSync(LOCK, { recursive: true, force: true });
      continue;
    }
    if (!told) say(`waiting for another build (pid ${holder}) to finish`);
    told = true;
    sleep(200);
  }
}

const unlock = () => rmSync(LOCK, { recursive: true, force: true });

function build(why) {
  const started = Date.now();
  if (why.full) rmSync(BUILD_INFO, { force: true }); // otherwise tsc skips outputs it thinks exist
  let tsc;
  try {
    tsc = require.resolve("typescript/bin/tsc");
  } catch {
    say("TypeScript is not installed: run `npm ci` first");
    return 1;
  }
  // stdout to stderr: tsc prints its diagnostics on stdout.
  const result = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], {
    cwd: ROOT,
    stdio: ["ignore", 2, 2],
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    say(`tsc failed (exit ${result.status}); dist/ stays stale`);
    return result.status ?? 1;
  }
  writeFileSync(STAMP, `built by tools/build.mjs; started ${new Date(started).toISOString()}\n`);
  const when = new Date(started);
  utimesSync(STAMP, when, when);
  return 0;
}

function main(args) {
  const unknown = args.filter((a) => a !== "--if-stale");
  if (unknown.length > 0) {
    say(`unknown argument ${unknown[0]} (usage: node tools/build.mjs [--if-stale])`);
    return 2;
  }
  const ifStale = args.includes("--if-stale");
  if (ifStale && !stale()) return 0;
  lock();
  try {
    const why = stale() ?? (ifStale ? undefined : { full: false });
    if (!why) return 0; // another build brought it up to date while this one waited
    const t0 = Date.now();
    const how = `tsc -p tsconfig.build.json${why.full ? "" : ", incremental"}`;
    say(why.reason ? `${why.reason}: building (${how})` : `building (${how})`);
    const status = build(why);
    if (status === 0) say(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return status;
  } finally {
    unlock();
  }
}

process.exitCode = main(process.argv.slice(2));
