// The admin console's commands (role `admin`), typed from the bindings. The server
// checks role and scope on every call; the UI only shows what it answers.
import { invoke, type InvokeArgs } from "@tauri-apps/api/core";
import { isCommandError } from "../../ipc";
import type { AdminKey, AdminUser, AdminUserUpdated, Category, CommandError, RoutingRules, RoutingRulesView, RoutingTestResult, KeyActivation, Role, SigningKey, Tier, Unit } from "../../ipc/bindings";

async function call<T>(command: string, args?: InvokeArgs): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    if (isCommandError(error)) throw error;
    throw { code: "internal", message: String(error) } as CommandError;
  }
}

export const adminKeys = () => call<AdminKey[]>("admin_keys");
export const approveSigningKey = (keyId: number) => call<KeyActivation>("approve_signing_key", { keyId });
export const revokeSigningKey = (keyId: number, reason: string) =>
  call<SigningKey>("revoke_signing_key", { keyId, reason });

export { groupedFingerprint } from "../../domain/fingerprint";

/** The server's minimum password length (`check_new_password`), defined in Rust. */
export { MIN_PASSWORD_CHARS as MIN_PASSWORD } from "../../ipc/bindings/limits";

export const changeOwnPassword = (currentPassword: string, newPassword: string) =>
  call<null>("change_own_password", { currentPassword, newPassword });
export const adminUsers = () => call<AdminUser[]>("admin_users");
export const createUser = (args: { unitId: number; username: string; displayName: string; roles: Role[]; password: string }) =>
  call<AdminUser>("create_user", args);
export const setUserActive = (userId: number, active: boolean, reason: string) =>
  call<AdminUser>("set_user_active", { userId, active, reason });
export const revokeUserSessions = (userId: number, reason: string) => call<number>("revoke_user_sessions", { userId, reason });
export const resetUserPassword = (userId: number, password: string) =>
  call<null>("reset_user_password", { userId, password });
export const createUnit = (parentId: number, tier: Tier, name: string) => call<Unit>("create_unit", { parentId, tier, name });
export const renameUnit = (unitId: number, name: string, reason: string) => call<Unit>("rename_unit", { unitId, name, reason });
export const routingRules = () => call<RoutingRulesView>("routing_rules");
export const saveRoutingRules = (args: { rules: RoutingRules; expectedVersion: number; reason: string }) =>
  call<RoutingRulesView>("save_routing_rules", args);
export const testRoutingRules = (args: { rules: RoutingRules; category: Category; subject: string; body: string }) =>
  call<RoutingTestResult>("test_routing_rules", args);
export const setUnitActive = (unitId: number, active: boolean, reason: string) => call<Unit>("set_unit_active", { unitId, active, reason });
export const moveUnit = (unitId: number, parentId: number, reason: string) => call<Unit>("move_unit", { unitId, parentId, reason });
/** Only the fields given change; the reason is required. */
export const updateUser = (args: { userId: number; displayName?: string; roles?: Role[]; unitId?: number; reason: string }) =>
  call<AdminUserUpdated>("update_user", args);
