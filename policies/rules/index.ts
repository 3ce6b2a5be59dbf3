/**
 * Every policy of the pack, in one list: `policies/index.ts` serves it to the Pulumi engine
 * and `lib/policy-runner.ts` runs it over the offline plan. One list, so the two never drift.
 */
import type { Policies } from "@pulumi/policy";
import { containerPolicies } from "./containers";
import { dataPolicies } from "./data";
import { iamPolicies } from "./iam";
import { kmsPolicies } from "./kms";
import { networkPolicies } from "./networks";
import { s3Policies } from "./s3";
import { secretPolicies } from "./secrets";

export const ALL_POLICIES: Policies = [
  ...containerPolicies,
  ...networkPolicies,
  ...dataPolicies,
  ...s3Policies,
  ...kmsPolicies,
  ...iamPolicies,
  ...secretPolicies,
];

export { RULES, DEFAULT_ENFORCEMENT } from "./metadata";
