import type { LoggerService } from "@nestjs/common";

export type Level = "debug" | "info" | "warn" | "error" | "fatal";

/** Fields added to every line (the slot colour, so mixed blue/green logs stay readable). */
const baseFields: Record<string, unknown> = {};

export function setBaseLogFields(fields: Record<string, unknown>): void {
  Object.assign(baseFields, fields);
}

/** Writes one JSON object per line to stdout (Docker collects it; one format for every level). */
export function logJson(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...baseFields, ...fields });
  process.stdout.write(`${line}\n`);
}

function text(message: unknown): string {
  if (message instanceof Error) return message.message;
  return typeof message === "string" ? message : JSON.stringify(message);
}

/** Nest's own log output (bootstrap, route mapping, errors) as JSON lines. */
export class JsonLogger implements LoggerService {
  log(message: unknown, context?: string): void {
    logJson("info", text(message), { context });
  }
  warn(message: unknown, context?: string): void {
    logJson("warn", text(message), { context });
  }
  debug(message: unknown, context?: string): void {
    logJson("debug", text(message), { context });
  }
  verbose(message: unknown, context?: string): void {
    logJson("debug", text(message), { context });
  }
  fatal(message: unknown, context?: string): void {
    logJson("fatal", text(message), { context });
  }
  error(message: unknown, stackOrContext?: string, context?: string): void {
    // Nest calls error(message, stack, context) or error(message, context).
    const fields: Record<string, unknown> =
      context === undefined ? { context: stackOrContext } : { context, stack: stackOrContext };
    if (message instanceof Error && message.stack) fields.stack = message.stack;
    logJson("error", text(message), fields);
  }
}
