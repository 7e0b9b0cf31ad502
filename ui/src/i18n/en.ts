import type { DeepStringRecord } from "./types";
import type { MessageSchema } from "./zh-CN";

const en: DeepStringRecord<MessageSchema> = {
  app: {
    productName: "Jiesu Jiban Desk",
    tagline: "Director's Mailbox letters · handled by the station",
    version: "Version {version}",
    loading: "Reading app information…",
  },
  connection: {
    label: "Connection",
    disconnected: "Not connected",
    disconnectedHint:
      "Not connected to the central server. Letters and progress will sync once connected.",
  },
  language: {
    label: "Language",
    zhCN: "中文",
    en: "English",
  },
  home: {
    title: "Desk",
    aboutTitle: "This installation",
    productLabel: "Product",
    versionLabel: "Version",
    connectionLabel: "Central server",
    emptyTitle: "No letters yet",
    emptyHint: "Once connected to the central server, letters assigned to this unit appear here.",
  },
  errors: {
    internal: "The action could not be completed. Please try again; if it persists, contact the administrator.",
  },
};

export default en;
