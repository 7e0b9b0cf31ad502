import vue from "@vitejs/plugin-vue";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

/**
 * tauri.conf.json sets `freezePrototype`: Object.prototype is frozen, so assigning an
 * inherited read-only name such as `constructor` to a plain object throws in strict
 * code (the "override mistake"). ECharts' scheduler copies every enumerable prototype
 * name of a tslib class — `constructor` included — onto mock objects by assignment.
 * Defining the property instead of assigning it does the same without the throw.
 */
function echartsUnderFrozenPrototype(): Plugin {
  const needle = "target[name_1] = noop;";
  return {
    name: "jsjb:echarts-frozen-prototype",
    enforce: "pre",
    transform(code, id) {
      if (!id.replace(/\\/g, "/").includes("echarts/lib/core/Scheduler.js")) return null;
      if (!code.includes(needle)) {
        this.error("echarts changed: re-check Scheduler.mockMethods under a frozen Object.prototype");
      }
      return code.replace(
        needle,
        "Object.defineProperty(target, name_1, { value: noop, writable: true, enumerable: true, configurable: true });",
      );
    },
  };
}

// Tauri serves ui/dist in release and test builds and the Vite dev server (port 5173,
// `devUrl` in tauri.conf.json) during `cargo run` without `custom-protocol`.
export default defineConfig({
  plugins: [vue(), echartsUnderFrozenPrototype()],
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
