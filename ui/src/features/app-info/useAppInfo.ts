import { onMounted, ref } from "vue";
import { appInfo, type AppInfo, type CommandError } from "../../ipc";

/** Loads `app_info` once when the component mounts. */
export function useAppInfo() {
  const info = ref<AppInfo | null>(null);
  const error = ref<CommandError | null>(null);
  onMounted(async () => {
    try {
      info.value = await appInfo();
    } catch (e) {
      error.value = e as CommandError;
    }
  });
  return { info, error };
}
