/**
 * The SDK formats a stack trace for every promise it tracks (`debuggablePromise` in
 * @pulumi/pulumi/runtime/debuggable) but reads those traces only to print leaked promises when
 * PULUMI_DEBUG_PROMISE_LEAKS is set. For the ~100 resources of a prod plan that formatting was
 * about 120 ms of a 760 ms offline plan (measured with --cpu-prof). The offline runtime skips it
 * unless that variable asks for the traces; a real `pulumi preview` is not affected.
 */

interface DebuggableModule {
  debuggablePromise?: (promise: Promise<unknown>, context: unknown) => Promise<unknown>;
}

let installed = false;

/**
 * Wraps the SDK's `debuggablePromise` so its trace capture records no frames. Returns whether it
 * is active: false when PULUMI_DEBUG_PROMISE_LEAKS is set or the SDK no longer has that internal
 * function (then everything behaves as without this module).
 */
export function skipUnreadPromiseStacks(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.PULUMI_DEBUG_PROMISE_LEAKS) return false;
  if (installed) return true;
  // An SDK internal (not in its typings); the SDK calls it through this exports object.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const debuggable = require("@pulumi/pulumi/runtime/debuggable") as DebuggableModule;
  const original = debuggable.debuggablePromise;
  if (typeof original !== "function") return false;
  debuggable.debuggablePromise = function withoutStack(promise, context) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return original(promise, context);
    } finally {
      Error.stackTraceLimit = limit;
    }
  };
  installed = true;
  return true;
}
