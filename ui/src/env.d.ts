/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** "1" builds the UI with the mock backend (src/dev): never for releases. */
  readonly VITE_JSJB_MOCK?: string;
}
