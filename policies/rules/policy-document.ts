/**
 * Parsing of AWS IAM / bucket policy documents as they appear in resource properties:
 * a JSON string or an object, `Statement` an object or a list, `Action`/`Resource` a string
 * or a list, `Principal` "*" or a map of principal types.
 */
import { UNKNOWN, type Unknown, containsUnknown, isUnknown, reveal } from "./values";

export interface Statement {
  sid?: string;
  effect: "Allow" | "Deny";
  /** Principals flattened to strings; `*` means anyone. Empty for identity policies. */
  principals: string[];
  actions: string[];
  /** Set when the statement uses NotAction. */
  notActions?: string[];
  resources: string[];
  /** Set when the statement uses NotResource (every resource but these). */
  notResources?: string[];
  condition: Record<string, Record<string, unknown>>;
}

const strings = (v: unknown): string[] => {
  const inner = reveal(v);
  if (inner === undefined || inner === null) return [];
  if (Array.isArray(inner)) return inner.map((x) => String(reveal(x)));
  return [String(inner)];
};

function principalsOf(value: unknown): string[] {
  const inner = reveal(value);
  if (inner === undefined) return [];
  if (typeof inner === "string") return [inner];
  if (inner !== null && typeof inner === "object" && !Array.isArray(inner)) {
    return Object.values(inner as Record<string, unknown>).flatMap(strings);
  }
  return strings(inner);
}

/**
 * The statements of a policy document; `UNKNOWN` when any part is not known yet;
 * `undefined` (with `error`) when the document is not valid JSON / not a policy.
 */
export function parsePolicyDocument(value: unknown): { statements: Statement[] | Unknown; error?: string } {
  let doc = reveal(value);
  if (isUnknown(doc) || containsUnknown(doc)) return { statements: UNKNOWN };
  if (typeof doc === "string") {
    try {
      doc = JSON.parse(doc) as unknown;
    } catch (error) {
      return { statements: [], error: `policy is not valid JSON: ${(error as Error).message}` };
    }
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return { statements: [], error: "policy is not a JSON object" };
  }
  const raw = reveal((doc as Record<string, unknown>).Statement);
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  const statements: Statement[] = [];
  for (const item of list) {
    const s = reveal(item) as Record<string, unknown>;
    if (s === null || typeof s !== "object") return { statements: [], error: "a Statement is not an object" };
    statements.push({
      sid: typeof s.Sid === "string" ? s.Sid : undefined,
      effect: s.Effect === "Deny" ? "Deny" : "Allow",
      principals: principalsOf(s.Principal),
      actions: strings(s.Action),
      notActions: s.NotAction === undefined ? undefined : strings(s.NotAction),
      resources: strings(s.Resource),
      notResources: s.NotResource === undefined ? undefined : strings(s.NotResource),
      condition: (reveal(s.Condition) ?? {}) as Record<string, Record<string, unknown>>,
    });
  }
  return { statements };
}

/** True when an IAM action pattern (with `*` and `?`) matches an action, case-insensitively. */
export function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    "i",
  );
  return re.test(action);
}

/** The forbidden actions a list of granted action patterns covers. */
export function coveredActions(granted: string[], forbidden: string[]): string[] {
  return forbidden.filter((f) => granted.some((g) => actionMatches(g, f)));
}

export const anyonePrincipal = (s: Statement) => s.principals.includes("*");
