// Attachment bytes → a blob: URL (the CSP allows blob:), revoked when no longer shown.
import { onBeforeUnmount, reactive } from "vue";
import * as ipc from "../../ipc";

export function base64ToBytes(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function useAttachments() {
  const urls = reactive<Record<string, string>>({});
  const failed = reactive<Record<string, boolean>>({});
  const loading = reactive<Record<string, boolean>>({});

  async function load(sha256: string): Promise<void> {
    if (urls[sha256] || loading[sha256]) return;
    loading[sha256] = true;
    failed[sha256] = false;
    try {
      const data = await ipc.attachment(sha256);
      urls[sha256] = URL.createObjectURL(new Blob([base64ToBytes(data.base64)], { type: data.mime }));
    } catch {
      failed[sha256] = true;
    } finally {
      loading[sha256] = false;
    }
  }

  function clear(): void {
    for (const key of Object.keys(urls)) {
      URL.revokeObjectURL(urls[key] as string);
      delete urls[key];
    }
  }

  onBeforeUnmount(clear);
  return { urls, failed, loading, load, clear };
}
