// Lint: no data as code in bash arithmetic. Bash evaluates a variable's value as an expression
// inside $(( )), (( )), let, [[ A -gt B ]] (and -eq -ne -lt -le -ge), indexed-array subscripts
// and ${v:offset:length}; a value like x[$(cmd)] runs cmd there. So a variable assigned from a
// command substitution, `read`/`mapfile`, or a function argument ($1...) must pass the shared
// validator (is_uint / require_uint, or require_int / require_days in the backup library) before
// it reaches such a place. shellcheck does not check this.
//
// Usage: node tools/lint-shell-arith.mjs [FILE|DIR]...
// Default: every bash file of the checkout that git does not ignore, except test fixtures.
// Exit 1 with one line per finding, 0 when clean, 2 on bad arguments.
//
// What it is: a line-based taint check of each file in file order. It blanks comments,
// single-quoted strings and quoted here-documents, then follows each variable from the line that
// fills it to the line that validates it. On one line, a validator counts first, then the uses,
// then the assignments (`x=$((x + 1))` reads the old x). What it does not do: follow values
// across files or through a function's output (a function that prints a checked number says so
// with the comment `# lint-shell-arith: prints a checked whole number` on the line above its
// definition), follow branches or loops (order in the file stands for order of execution), see
// environment variables as untrusted, or parse bash in strings that another shell runs later (a
// snippet in quotes). It only reads bash: sh (dash, busybox) does not evaluate values that way.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";

const VALIDATORS = { is_uint: 0, require_uint: 1, require_int: 1, require_days: 1 }; // index of VALUE
const CHECKED_OUTPUT = /#\s*lint-shell-arith:\s*prints a checked whole number/;
const NAME = "[A-Za-z_][A-Za-z0-9_]*";
const SAFE_SPECIAL = new Set([
  "#",
  "?",
  "$",
  "!",
  "-",
  "SECONDS",
  "RANDOM",
  "LINENO",
  "BASHPID",
  "EPOCHSECONDS",
]);

/** Blanks comments, single-quoted text ('...' and $'...') and quoted here-document bodies. */
export function blank(text) {
  const out = text.split(""); // UTF-16 units, as text[i] indexes them
  let i = 0;
  const stack = ["code"]; // code | dq
  let heredoc = null; // { end, strip, quoted } pending until the end of the line
  const top = () => stack[stack.length - 1];
  while (i < text.length) {
    const c = text[i];
    if (c === "\n") {
      i++;
      if (heredoc) {
        // the body: up to a line that is exactly the terminator
        while (i < text.length) {
          let eol = text.indexOf("\n", i);
          if (eol < 0) eol = text.length;
          const line = text.slice(i, eol);
          const done = (heredoc.strip ? line.replace(/^\t+/, "") : line) === heredoc.end;
          if (heredoc.quoted && !done) for (let k = i; k < eol; k++) out[k] = " ";
          i = eol + 1;
          if (done) break;
        }
        heredoc = null;
      }
      continue;
    }
    if (c === "\\") {
      i += 2;
      continue;
    }
    if (top() === "dq") {
      if (c === '"') stack.pop();
      else if (text.startsWith("$(", i) && !text.startsWith("$((", i)) {
        stack.push("code");
        i += 2;
        continue;
      }
      i++;
      continue;
    }
    // code
    if (c === "'" || (c === "$" && text[i + 1] === "'")) {
      const start = c === "$" ? i + 2 : i + 1;
      let end = start;
      while (end < text.length && text[end] !== "'") end += c === "$" && text[end] === "\\" ? 2 : 1;
      for (let k = start; k < end; k++) if (out[k] !== "\n") out[k] = " ";
      i = end + 1;
      continue;
    }
    if (c === '"') {
      stack.push("dq");
      i++;
      continue;
    }
    if (c === ")" && stack.length > 1) {
      stack.pop();
      i++;
      continue;
    }
    if (c === "#" && (i === 0 || /[\s;&|(]/.test(text[i - 1]))) {
      while (i < text.length && text[i] !== "\n") out[i++] = " ";
      continue;
    }
    const hd = /^<<(-?)\s*(['"]?)\\?([A-Za-z_][A-Za-z0-9_]*)\2/.exec(text.slice(i, i + 80));
    if (hd && text[i + 2] !== "<" && text[i - 1] !== "<") {
      heredoc = { end: hd[3], strip: hd[1] === "-", quoted: hd[2] !== "" || hd[0].includes("\\") };
      i += hd[0].length;
      continue;
    }
    i++;
  }
  return out.join("");
}

/** Words of a command line, double quotes kept together (single quotes are already blanked). */
function words(line) {
  return [...line.matchAll(/(?:"[^"]*"|[^\s";&|]+)+/g)].map((m) => m[0]);
}

/** Variable names referenced in an arithmetic expression (with $, ${...} or bare). */
function references(expr) {
  const names = [];
  // lengths are numbers; a command substitution is reported on its own (its arguments are not arithmetic)
  const text = expr.replace(/\$\{#[^}]*\}/g, " ").replace(/\$\((?!\()[^()]*\)/g, " ");
  for (const m of text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/g)) names.push(m[1]);
  const bare = text.replace(/\$\{[^}]*\}|\$[A-Za-z_0-9@*#?$!-]+|\$\([^)]*\)/g, " ");
  for (const m of bare.matchAll(new RegExp(`(?<![A-Za-z0-9_#.])(${NAME})(?![A-Za-z0-9_])`, "g"))) {
    names.push(m[1]);
  }
  return names.filter((n) => !SAFE_SPECIAL.has(n));
}

/** The arithmetic expressions on a (blanked) line: [text, what] pairs. */
function arithmetic(line, assocArrays) {
  const found = [];
  for (const m of line.matchAll(/\$\(\(([\s\S]*?)\)\)/g)) found.push([m[1], "$(( ))"]);
  const rest = line.replace(/\$\(\([\s\S]*?\)\)/g, " ");
  for (const m of rest.matchAll(/(?:^|[\s;&|!(])\(\(([\s\S]*?)\)\)/g)) found.push([m[1], "(( ))"]);
  for (const m of rest.matchAll(/\[\[([\s\S]*?)\]\]/g)) {
    for (const part of m[1].split(/&&|\|\|/)) {
      const cmp = /(\S+)\s+-(?:eq|ne|lt|le|gt|ge)\s+(\S+)/.exec(part);
      if (cmp) found.push([`${cmp[1]} ${cmp[2]}`.replace(/"/g, ""), "[[ -op ]]"]);
    }
  }
  const letm = /(?:^|[\s;&|])let\s+(.*)$/.exec(rest);
  if (letm) found.push([letm[1], "let"]);
  for (const m of line.matchAll(new RegExp(`(${NAME})\\[([^\\]]*)\\]`, "g"))) {
    if (!assocArrays.has(m[1]) && !/^[@*]$/.test(m[2])) found.push([m[2], "array subscript"]);
  }
  for (const m of line.matchAll(new RegExp(`\\$\\{${NAME}:(?![-=?+])([^}]*)\\}`, "g"))) {
    found.push([m[1].replace(/:/g, " "), "${v:offset}"]);
  }
  return found.filter(([expr]) => !/^\s*[@*]\s*$/.test(expr));
}

/** Findings for one file: "line: message" strings. */
/** Functions marked as printing a checked whole number (the comment on the line above them). */
export function checkedFunctions(text) {
  const src = text.split("\n");
  const names = new Set();
  src.forEach((line, n) => {
    const fn = new RegExp(`^\\s*(?:function\\s+)?(${NAME})\\s*\\(\\)`).exec(line);
    if (fn && n > 0 && CHECKED_OUTPUT.test(src[n - 1])) names.add(fn[1]);
  });
  return names;
}

/** Findings for one file ("line: message"); `checkedFns` from checkedFunctions of every file linted. */
export function lintText(text, checkedFns = checkedFunctions(text)) {
  const lines = blank(text).split("\n");
  const assoc = new Set();
  lines.forEach((line) => {
    const decl = /(?:^|[\s;&|])(?:declare|local|typeset)\s+((?:-[a-zA-Z]+\s+)+)(.*)$/.exec(line);
    if (!decl || !/A/.test(decl[1])) return;
    for (const w of words(decl[2])) {
      const name = new RegExp(`^(${NAME})(=|$)`).exec(w);
      if (name) assoc.add(name[1]);
    }
  });
  // Bash's own variables that hold data: the matched text, read's and mapfile's defaults.
  const taint = new Map(["BASH_REMATCH", "REPLY", "MAPFILE"].map((v) => [v, "data bash stored"])); // name -> where from
  const positional = () => {
    for (let k = 1; k <= 9; k++) taint.set(String(k), "a function argument");
    taint.set("@", "a function argument");
    taint.set("*", "a function argument");
  };
  positional();
  const findings = [];
  lines.forEach((line, n) => {
    const at = `line ${n + 1}`;
    if (new RegExp(`^\\s*(?:function\\s+)?${NAME}\\s*\\(\\)`).test(line)) positional();
    // 1. validators clear the value they check (before the uses: `is_uint "$x" && ((x > 1))`)
    const ws = words(line);
    ws.forEach((w, k) => {
      const index = VALIDATORS[w];
      if (index === undefined) return;
      const value = ws[k + 1 + index];
      const ref = value && /^"?\$\{?([A-Za-z_][A-Za-z0-9_]*|[0-9])\}?"?$/.exec(value);
      if (ref) taint.delete(ref[1]);
    });
    // 2. uses
    for (const [expr, what] of arithmetic(line, assoc)) {
      for (const name of references(expr)) {
        if (taint.has(name)) {
          findings.push(
            `${n + 1}: ${what} uses ${/^\d|[@*]/.test(name) ? "$" : ""}${name} (${taint.get(name)}) without is_uint/require_uint first`,
          );
        }
      }
      for (const m of expr.matchAll(new RegExp(`\\$\\((${NAME})?`, "g"))) {
        if (!m[1] || !checkedFns.has(m[1])) {
          findings.push(`${n + 1}: ${what} contains a command substitution whose output is not checked`);
        }
      }
    }
    // 3. assignments (after the uses: `x=$((x + 1))` reads the old x)
    for (const m of line.matchAll(new RegExp(`(?:^|[\\s;&|(!{])(${NAME})=("?)(\\S*)`, "g"))) {
      const [, name, , rhs] = m;
      const fromFn = /^\$\((\S+)/.exec(rhs);
      if ((rhs.startsWith("$(") && !rhs.startsWith("$((")) || rhs.startsWith("`")) {
        if (fromFn && checkedFns.has(fromFn[1].replace(/\)$/, ""))) taint.delete(name);
        else taint.set(name, `from a command substitution, ${at}`);
      } else if (!rhs.startsWith("$((") && /\$/.test(rhs)) {
        const from = [...rhs.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*|[0-9@*])/g)].map((r) => r[1]);
        const bad = from.find((r) => taint.has(r));
        if (bad)
          taint.set(
            name,
            /^[0-9@*]$/.test(bad) ? `from a function argument, ${at}` : `copied from ${bad}, ${at}`,
          );
        else taint.delete(name);
      } else {
        taint.delete(name);
      }
    }
    if (/(?:^|[\s;&|])shift\b/.test(line)) {
      for (let k = 1; k <= 9; k++) taint.set(String(k), "a function argument (after shift)");
    }
    const read = /(?:^|[\s;&|!(])(read|mapfile|readarray)\s+([^;|&<>)]*)/.exec(line);
    if (read) {
      const args = words(read[2]);
      const withArg = read[1] === "read" ? /^-[dpntNiu]$/ : /^-[dnOsuCc]$/;
      const names = [];
      for (let k = 0; k < args.length; k++) {
        if (withArg.test(args[k])) k++;
        else if (args[k] === "-a" && read[1] === "read") names.push(args[++k]);
        else if (!args[k].startsWith("-") && new RegExp(`^${NAME}$`).test(args[k])) names.push(args[k]);
        else if (!args[k].startsWith("-")) break;
      }
      const kept = read[1] === "read" ? names : names.slice(-1);
      for (const name of kept) taint.set(name, `from ${read[1]}, ${at}`);
    }
    const forIn = new RegExp(`(?:^|[\\s;])for\\s+(${NAME})\\s+in\\s+(.*)`).exec(line);
    if (forIn && (/\$\(/.test(forIn[2]) || references(forIn[2]).some((r) => taint.has(r)))) {
      taint.set(forIn[1], `from a for loop over unchecked values, ${at}`);
    }
  });
  return [...new Set(findings)];
}

function bashFiles(root) {
  const tracked = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
    encoding: "utf8",
  })
    .split("\0")
    .filter((f) => f && !/(^|\/)fixtures\//.test(f));
  return tracked.filter((f) => isBash(join(root, f))).map((f) => join(root, f));
}

function isBash(path) {
  try {
    if (!statSync(path).isFile()) return false;
    const head = readFileSync(path, "utf8").slice(0, 400);
    return /^#!.*\bbash\b/.test(head) || /^# shellcheck shell=bash/m.test(head) || path.endsWith(".sh");
  } catch {
    return false;
  }
}

function expand(path) {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((entry) => expand(join(path, entry)));
}

function main(argv) {
  const root = process.cwd();
  let files;
  try {
    files = argv.length > 0 ? argv.flatMap(expand).filter(isBash) : bashFiles(root);
  } catch (error) {
    console.error(`lint-shell-arith: ${error.message}`);
    return 2;
  }
  let count = 0;
  const checked = new Set(files.flatMap((file) => [...checkedFunctions(readFileSync(file, "utf8"))]));
  for (const file of files) {
    for (const finding of lintText(readFileSync(file, "utf8"), checked)) {
      console.log(`${relative(root, file)}:${finding}`);
      count++;
    }
  }
  console.error(`lint-shell-arith: ${files.length} bash file(s), ${count} finding(s)`);
  return count > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
