// The whole app against the mock backend, for Vitest: one way to install the mock
// behind mockIPC (recording every call), mount the app and let it settle.
import { emit } from "@tauri-apps/api/event";
import { mockIPC } from "@tauri-apps/api/mocks";
import { flushPromises, mount, type VueWrapper } from "@vue/test-utils";
import App from "../App.vue";
import { createAppI18n } from "../i18n";
import { createMockBackend, type MockBackend, type MockOptions } from "./mockBackend";

export type Call = { cmd: string; args: Record<string, unknown> };

/** The mock behind mockIPC, its events emitted to the app; `calls` records each command. */
export function installMockApp(options: MockOptions, calls: Call[]): MockBackend {
  const backend = createMockBackend(options);
  mockIPC(
    (cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      return backend.handle(cmd, args as Record<string, unknown>);
    },
    { shouldMockEvents: true },
  );
  backend.onEvent((event, payload) => void emit(event, payload));
  return backend;
}

/** Lets the app's promises (IPC round trips, watchers) run out. */
export async function settle(rounds = 6): Promise<void> {
  for (let i = 0; i < rounds; i++) await flushPromises();
}

/** The app mounted into the document, settled. */
export async function mountApp(): Promise<VueWrapper> {
  const wrapper = mount(App, { global: { plugins: [createAppI18n()] }, attachTo: document.body });
  await settle();
  return wrapper;
}
