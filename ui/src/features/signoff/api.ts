// The sign-off's commands (docs/ipc.md, "The chief's sign-off"), typed from the bindings.
import { invoke, type InvokeArgs } from "@tauri-apps/api/core";
import { isCommandError } from "../../ipc";
import type {
  Category,
  CommandError,
  Delegation,
  FormDecision,
  OutboxEntry,
  SignedFormExport,
  SignedFormView,
  SigningKeyStatus,
  SignoffPreview,
} from "../../ipc/bindings";

async function call<T>(command: string, args?: InvokeArgs): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    if (isCommandError(error)) throw error;
    throw { code: "internal", message: String(error) } as CommandError;
  }
}

export const signingKeyStatus = () => call<SigningKeyStatus>("signing_key_status");
export const enrolSigningKey = (pin: string) => call<SigningKeyStatus>("enrol_signing_key", { pin });
export const signoffPreview = (letterId: number, decision: FormDecision, opinion: string, handwritingPngBase64: string) =>
  call<SignoffPreview>("signoff_preview", { letterId, decision, opinion, handwritingPngBase64 });
export const signFeedbackForm = (args: {
  letterId: number;
  expectedVersion: number;
  decision: FormDecision;
  opinion: string;
  pin: string;
  handwritingPngBase64: string;
}) => call<OutboxEntry>("sign_feedback_form", args);
export const signedFormStatus = (letterId: number) => call<SignedFormView[]>("signed_form_status", { letterId });
/** Rust opens the folder picker (titled `dialogTitle`) and writes only there; `null`: cancelled. */
export const exportSignedForm = (letterId: number, seq: number, dialogTitle: string) =>
  call<SignedFormExport | null>("export_signed_form", { letterId, seq, dialogTitle });

// 代签授权 (the chief's own grants).
export const listDelegations = () => call<Delegation[]>("delegations");
export const grantDelegation = (args: { deputy: number; validFrom: string; validUntil: string; category: Category | null; note: string }) =>
  call<Delegation>("grant_delegation", args);
export const revokeDelegation = (delegationId: number) => call<Delegation>("revoke_delegation", { delegationId });
