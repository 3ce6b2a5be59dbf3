/**
 * The backend-infra CrossGuard policy pack. Only constructs the pack: the rules live in
 * ./rules (one module per group). Run it with `pulumi preview --policy-pack policies`
 * (optionally `--policy-pack-config policies/config/<env>.json`); see policies/README.md.
 */
import { PolicyPack } from "@pulumi/policy";
import { ALL_POLICIES, DEFAULT_ENFORCEMENT } from "./rules";

new PolicyPack("backend-infra", {
  description:
    "Container, network, data, S3, IAM and secret rules for backend-infra (mandatory unless configured).",
  enforcementLevel: DEFAULT_ENFORCEMENT,
  policies: ALL_POLICIES,
});
