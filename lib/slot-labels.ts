/**
 * Docker labels of the backend slot containers (components/backend-slot.ts). The traffic switch
 * counts a colour's running replicas by them (tools/docker-replicas.ts), so both read them here.
 */
export const ROLE_LABEL = "backend-infra.role";
export const BACKEND_ROLE = "backend";
export const SLOT_LABEL = "backend-infra.slot";
/** The replica's number within its slot (1..backendReplicas); a replacement keeps it. */
export const REPLICA_LABEL = "backend-infra.replica";
