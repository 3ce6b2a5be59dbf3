/**
 * Whether a five-field cron expression that lib/cron.ts accepts can ever fire. `0 3 30 2 *`
 * (February 30) is well formed, yet supercronic would never run the backup it schedules.
 */

/** The most days each month can have (February 29 exists in leap years, so it can fire). */
const MAX_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTH_NAMES = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** The values a field of numbers, ranges, `*` and steps selects (the field is already valid). */
function fieldValues(field: string, min: number, max: number): number[] {
  const values = new Set<number>();
  for (const item of field.split(",")) {
    const [range, step = "1"] = item.split("/");
    const [low, high] =
      range === "*"
        ? [min, max]
        : range.includes("-")
          ? range.split("-").map(Number)
          : [Number(range), step === "1" ? Number(range) : max];
    for (let v = low; v <= high; v += Number(step)) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

/**
 * Undefined when the schedule fires at some time, else why it never does. The runner's cron
 * (supercronic, after Vixie cron) runs a job on a day when the day of month matches or, if the
 * day-of-week field is restricted, when the weekday matches: every weekday occurs in every month,
 * so only a day of month that no selected month has, with day of week `*`, never fires.
 */
export function cronNeverFiresError(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) return undefined;
  const [, , dayOfMonth, month, dayOfWeek] = fields;
  if (dayOfWeek !== "*" || dayOfMonth === "*") return undefined;
  const days = fieldValues(dayOfMonth, 1, 31);
  const months = fieldValues(month, 1, 12);
  if (months.some((m) => days[0] <= MAX_DAYS[m - 1])) return undefined;
  const named = months.map((m) => `${MONTH_NAMES[m - 1]} (${MAX_DAYS[m - 1]} days)`).join(", ");
  return `expected a schedule that can fire: day of month ${dayOfMonth} never occurs in ${named}`;
}
