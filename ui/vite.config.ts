import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vitest/config";

// Tauri serves ui/dist in release and test builds and the Vite dev server (port 5173,
// `devUrl` in tauri.conf.json) during `cargo run` without `custom-protocol`.
export default defineConfig({
  plugins: [vue()],
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
  },
  build: {
    // WebKitGTK on Debian 12 and WebView2 on Windows 10+ both handle ES2021.
    target: ["es2021", "safari15", "chrome105"],
    outDir: "dist",
    emptyOutDir: true,
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.ts"],
    setupFiles: ["src/test-setup.ts"],
  },
});
