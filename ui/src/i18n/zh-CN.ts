// The reference locale: every key lives here first. `en.ts` is typed against it, so a
// key missing there fails `vue-tsc`.
const zhCN = {
  app: {
    productName: "接诉即办工作台",
    tagline: "局长信箱来信 · 派出所办理",
    version: "版本 {version}",
    loading: "正在读取应用信息…",
  },
  connection: {
    label: "连接状态",
    disconnected: "未连接",
    disconnectedHint: "尚未连接中心服务器。连接后将自动同步来信与办理进度。",
  },
  language: {
    label: "界面语言",
    zhCN: "中文",
    en: "English",
  },
  home: {
    title: "工作台",
    aboutTitle: "关于本机",
    productLabel: "产品",
    versionLabel: "版本",
    connectionLabel: "中心服务器",
    emptyTitle: "暂无来信",
    emptyHint: "连接中心服务器后，派给本单位的来信会显示在这里。",
  },
  errors: {
    internal: "操作未能完成，请稍后重试。如果问题持续，请联系系统管理员。",
  },
};

export default zhCN;
export type MessageSchema = typeof zhCN;
