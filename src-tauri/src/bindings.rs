//! The TypeScript declarations of every IPC type, generated from Rust.
//!
//! `src-tauri/tests/bindings.rs` writes them to `ui/src/ipc/bindings/` (or, in check
//! mode, fails when the files there differ), so the UI's types cannot drift from the
//! commands' (`cargo xtask bindings` regenerates them).

use std::any::TypeId;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use ts_rs::{Config, ExportError, TS, TypeVisitor};

use crate::error::{CommandError, ErrorCode};
use crate::ipc::{
    ActionRefusedEvent, AlertKind, AppInfo, AttachmentData, AuditMismatchEvent, ChimeTest,
    ConnectionState, InboxView, LetterView, LettersEvent, NotificationOpened, SavedExport,
    SessionExpiredEvent, SessionInfo, WaitingStatus,
};
use crate::settings::Settings;

/// Where the generated files live, relative to the workspace root.
pub const DIR: &str = "ui/src/ipc/bindings";

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingFile {
    /// File name inside [`DIR`], e.g. `AppInfo.ts`.
    pub name: String,
    pub contents: String,
}

/// Collects a type and, recursively, every type it refers to (as ts-rs's own
/// `export_all` does), so that each generated `import` has its file.
struct Collect<'a> {
    cfg: &'a Config,
    seen: HashSet<TypeId>,
    files: BTreeMap<String, (&'static str, String)>,
    error: Option<ExportError>,
}

impl Collect<'_> {
    fn add<T: TS + ?Sized + 'static>(&mut self) {
        if self.error.is_some() || T::output_path().is_none() {
            return;
        }
        if !self.seen.insert(TypeId::of::<T>()) {
            return;
        }
        match file::<T>(self.cfg) {
            Ok(f) => {
                let rust = std::any::type_name::<T>();
                if let Some((other, _)) = self.files.get(&f.name) {
                    // Two Rust types with one TypeScript name would overwrite each other.
                    self.error = Some(ExportError::Io(std::io::Error::other(format!(
                        "{rust} and {other} both export {}",
                        f.name
                    ))));
                    return;
                }
                self.files.insert(f.name, (rust, f.contents));
            }
            Err(e) => {
                self.error = Some(e);
                return;
            }
        }
        T::visit_dependencies(self);
    }
}

impl TypeVisitor for Collect<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        self.add::<T>();
    }
}

/// Every exported type, one file each, plus an `index.ts` re-exporting them all.
pub fn typescript() -> Result<Vec<BindingFile>, ExportError> {
    let cfg = Config::new();
    let mut c = Collect {
        cfg: &cfg,
        seen: HashSet::new(),
        files: BTreeMap::new(),
        error: None,
    };
    // The commands' arguments and answers, the events' payloads, the errors.
    c.add::<AppInfo>();
    c.add::<ConnectionState>();
    c.add::<CommandError>();
    c.add::<ErrorCode>();
    c.add::<SessionInfo>();
    c.add::<jsjb_sync::SyncStatus>();
    c.add::<jsjb_sync::SyncReport>();
    c.add::<jsjb_store::InboxQuery>();
    c.add::<InboxView>();
    c.add::<LetterView>();
    c.add::<jsjb_core::workflow::Action>();
    c.add::<jsjb_store::OutboxEntry>();
    c.add::<jsjb_proto::Writer>();
    c.add::<jsjb_proto::LetterInput>();
    c.add::<jsjb_proto::DeskIntakeReceipt>();
    c.add::<AttachmentData>();
    c.add::<jsjb_proto::UserSummary>();
    c.add::<Settings>();
    c.add::<ChimeTest>();
    c.add::<SavedExport>();
    c.add::<jsjb_store::StatsReport>();
    // Flattened into the unit and officer rows; exported for the UI's own sums.
    c.add::<jsjb_store::RateCounts>();
    c.add::<jsjb_store::WallBoard>();
    c.add::<crate::reports::StatsView>();
    c.add::<crate::clock_rules::RulesInUse>();
    c.add::<crate::reports::StatsSource>();
    c.add::<crate::reports::ReportFormat>();
    c.add::<crate::letter_files::PickedFile>();
    c.add::<jsjb_store::BoardRow>();
    c.add::<jsjb_store::UnitLoad>();
    c.add::<jsjb_store::HandoverReport>();
    c.add::<jsjb_proto::Notice>();
    c.add::<jsjb_signoff::flow::SigningKeyStatus>();
    c.add::<jsjb_signoff::flow::SignoffPreview>();
    c.add::<jsjb_signoff::flow::SignedFormView>();
    c.add::<crate::signing::SignedFormExport>();
    c.add::<jsjb_proto::AdminKey>();
    c.add::<jsjb_proto::KeyActivation>();
    c.add::<jsjb_proto::AdminUser>();
    c.add::<jsjb_proto::AdminUserUpdated>();
    c.add::<jsjb_core::routing::RoutingRule>();
    c.add::<jsjb_core::routing::RoutingRules>();
    c.add::<jsjb_proto::routing::RoutingRulesView>();
    c.add::<jsjb_proto::routing::RoutingTestResult>();
    c.add::<jsjb_proto::Delegation>();
    c.add::<LettersEvent>();
    c.add::<AlertKind>();
    c.add::<NotificationOpened>();
    c.add::<WaitingStatus>();
    c.add::<ActionRefusedEvent>();
    c.add::<SessionExpiredEvent>();
    c.add::<AuditMismatchEvent>();
    if let Some(e) = c.error {
        return Err(e);
    }
    let mut files: Vec<BindingFile> = c
        .files
        .into_iter()
        .map(|(name, (_, contents))| BindingFile { name, contents })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut index = String::from(
        "// This file was generated by src-tauri/src/bindings.rs. Do not edit it by hand.\n",
    );
    for f in &files {
        let stem = f.name.trim_end_matches(".ts");
        index.push_str(&format!("export type {{ {stem} }} from \"./{stem}\";\n"));
    }
    files.push(BindingFile {
        name: "index.ts".to_owned(),
        contents: index,
    });
    files.push(limits());
    Ok(files)
}

/// The limits the UI checks before Rust or the server would refuse, as constants, each
/// from its one definition in Rust.
fn limits() -> BindingFile {
    use jsjb_proto::limits;
    let constants: [(&str, &str, String); 11] = [
        (
            "MAX_TEXT_CHARS",
            "jsjb_core::workflow::MAX_TEXT_CHARS: free text attached to an action (notes, opinions, replies, reasons).",
            jsjb_core::workflow::MAX_TEXT_CHARS.to_string(),
        ),
        (
            "CONTACT_TIME_TOLERANCE_MS",
            "jsjb_core::workflow::CONTACT_TIME_TOLERANCE_SECS: how far in the future a reported contact time may lie.",
            (jsjb_core::workflow::CONTACT_TIME_TOLERANCE_SECS * 1000).to_string(),
        ),
        (
            "MAX_HANDWRITING_BYTES",
            "jsjb_signoff::handwriting::MAX_BYTES: the chief's handwritten signature as PNG.",
            jsjb_signoff::handwriting::MAX_BYTES.to_string(),
        ),
        (
            "MIN_PASSWORD_CHARS",
            "jsjb_proto::limits::MIN_PASSWORD_CHARS: a new password's least length.",
            limits::MIN_PASSWORD_CHARS.to_string(),
        ),
        (
            "MAX_PASSWORD_CHARS",
            "jsjb_proto::limits::MAX_PASSWORD_CHARS: a new password's greatest length.",
            limits::MAX_PASSWORD_CHARS.to_string(),
        ),
        (
            "MAX_NAME_CHARS",
            "jsjb_proto::limits::MAX_NAME_CHARS: a unit's name or a user's display name.",
            limits::MAX_NAME_CHARS.to_string(),
        ),
        (
            "MAX_SUBJECT_CHARS",
            "jsjb_proto::limits::MAX_SUBJECT_CHARS: a letter's subject.",
            limits::MAX_SUBJECT_CHARS.to_string(),
        ),
        (
            "MAX_LETTER_CHARS",
            "jsjb_proto::limits::MAX_LETTER_CHARS: a letter's text.",
            limits::MAX_LETTER_CHARS.to_string(),
        ),
        (
            "MAX_WRITER_NAME_CHARS",
            "jsjb_proto::limits::MAX_WRITER_NAME_CHARS: the writer's name.",
            limits::MAX_WRITER_NAME_CHARS.to_string(),
        ),
        (
            "MAX_PROBLEM_TAGS",
            "jsjb_proto::limits::MAX_PROBLEM_TAGS: problem tags on a letter.",
            limits::MAX_PROBLEM_TAGS.to_string(),
        ),
        (
            "MAX_TAG_CHARS",
            "jsjb_proto::limits::MAX_TAG_CHARS: one problem tag.",
            limits::MAX_TAG_CHARS.to_string(),
        ),
    ];
    let mut contents = String::from(
        "// This file was generated by src-tauri/src/bindings.rs. Do not edit it by hand.\n\
         // Limits the UI checks before the desktop or the server would refuse; each is\n\
         // defined once, in Rust.\n",
    );
    for (name, doc, value) in constants {
        contents.push_str(&format!("\n/** {doc} */\nexport const {name} = {value};\n"));
    }
    // The handover's lists in the store's order (`HandoverItemKind::ALL`, which is the
    // order the report sorts by).
    let handover: Vec<String> = jsjb_store::HandoverItemKind::ALL
        .iter()
        .map(|k| serde_json::to_string(k).unwrap_or_default())
        .collect();
    contents.push_str(&format!(
        "\n/** jsjb_store::HandoverItemKind::ALL: the handover's lists, in their order. */\n\
         export const HANDOVER_KINDS = [{}] as const;\n",
        handover.join(", ")
    ));
    contents.push_str(&format!(
        "\n/** jsjb_core::form::FORM_TITLE: the feedback form's title, as the PDF prints it. */\n\
         export const FORM_TITLE_ZH = {};\n",
        serde_json::to_string(jsjb_core::form::FORM_TITLE).unwrap_or_default()
    ));
    // The categories in core's order: the forms' choices (one list, not one per form).
    let categories: Vec<String> = jsjb_core::letter::Category::ALL
        .iter()
        .map(|c| format!("\"{}\"", c.as_str()))
        .collect();
    contents.push_str(&format!(
        "\n/** jsjb_core::letter::Category::ALL: every category, in core's order. */\n\
         export const CATEGORIES = [{}] as const;\n",
        categories.join(", ")
    ));
    // The Shenzhen defaults, for the UI's development backend only: the app itself reads
    // every clock from Rust (the cache's rows and `clock::evaluate`).
    let shenzhen = jsjb_core::clock::Policy::shenzhen();
    let rule = |r: &jsjb_core::clock::ClockRule| {
        format!(
            "{{ dueSecs: {}, warnSecs: {} }}",
            r.due_after_secs, r.warn_before_secs
        )
    };
    contents.push_str(&format!(
        "\n/** jsjb_core::clock::Policy::shenzhen(): 签收, 联系, 首次反馈, 办结 (seconds; for the \
         development backend — the app reads its clocks from Rust). */\n\
         export const SHENZHEN_CLOCKS = {{\n  sign_for: {},\n  contact: {},\n  \
         first_feedback: {},\n  closure: {},\n}} as const;\n",
        rule(&shenzhen.sign_for),
        rule(&shenzhen.contact),
        rule(&shenzhen.first_feedback),
        rule(&shenzhen.closure),
    ));
    BindingFile {
        name: "limits.ts".to_owned(),
        contents,
    }
}

fn file<T: TS + ?Sized + 'static>(cfg: &Config) -> Result<BindingFile, ExportError> {
    let name = T::output_path()
        .unwrap_or_else(|| PathBuf::from(format!("{}.ts", T::name(cfg))))
        .to_string_lossy()
        .into_owned();
    Ok(BindingFile {
        name,
        contents: T::export_to_string(cfg)?,
    })
}
