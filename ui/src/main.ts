import { createApp } from "vue";
import App from "./App.vue";
import { createAppI18n } from "./i18n";

async function main() {
  // The mock backend exists only in builds made with VITE_JSJB_MOCK=1 (development,
  // screenshots): Vite replaces the condition, so release builds
  // drop the import entirely.
  if (import.meta.env.VITE_JSJB_MOCK === "1") {
    const { installMockBackend } = await import("./dev/install");
    installMockBackend();
  }
  createApp(App).use(createAppI18n()).mount("#app");
}

void main();
