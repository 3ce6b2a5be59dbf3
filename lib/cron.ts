/**
 * Validation of five-field cron expressions (minute hour day-of-month month day-of-week),
 * the dialect of supercronic and Vixie cron that the backup runner uses.
 */
const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

/** Returns undefined when the expression is valid, else a sentence saying what is wrong. */
export function cronError(expression: string): string | undefined {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) {
    return `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`;
  }
  for (const [index, part] of parts.entries()) {
    const field = FIELDS[index];
    for (const item of part.split(",")) {
      const problem = itemError(item, field.min, field.max);
      if (problem) return `${field.name} field "${part}": ${problem}`;
    }
  }
  return undefined;
}

function itemError(item: string, min: number, max: number): string | undefined {
  const match = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(item);
  if (!match) return `"${item}" is not a number, range, * or step`;
  const [, range, step] = match;
  if (step !== undefined && Number(step) === 0) return "a step must be at least 1";
  if (range === "*") return undefined;
  const [low, high = low] = range.split("-").map(Number);
  if (low < min || high > max) return `values must be within ${min}-${max}`;
  if (low > high) return `range ${range} runs backwards`;
  return undefined;
}
