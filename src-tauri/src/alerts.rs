//! What the officer sees outside the window: the tray icon with the count of letters
//! waiting for them (to sign for at a unit, to dispatch at a desk) and a badge while any
//! wait, the OS notification and the taskbar flash when one arrives.
//!
//! Both are optional comforts: a desktop without a tray host (Xvfb, some Linux
//! desktops) or without a notification daemon logs it and carries on — the window and
//! the chime still alert.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, Runtime, UserAttentionType};
#[cfg(not(target_os = "linux"))]
use tauri_plugin_notification::NotificationExt;

use crate::alarm::ArrivalAlarm;
use crate::ipc::{AlertKind, NotificationOpened, WaitingStatus, events};
use jsjb_core::letter::LetterId;

const TRAY_ID: &str = "main";
const MAIN_WINDOW: &str = "main";

/// The few strings Rust shows itself (the UI's live in `ui/src/i18n`).
struct Texts {
    product: &'static str,
    arrival: &'static str,
    chased: &'static str,
    to_sign: &'static str,
    escalated: &'static str,
    show: &'static str,
    quit: &'static str,
    /// The notification's action (a click on its body opens it).
    open: &'static str,
    waiting: fn(usize) -> String,
}

const ZH_CN: Texts = Texts {
    product: "接诉即办工作台",
    arrival: "您有新的来件，请及时签收或派发",
    chased: "上级盯办民警对本单位办理的来信进行了催办，请尽快处理",
    to_sign: "有新的反馈表等待您签批",
    escalated: "下级单位有来信签收或联系来信人已超时，请在态势看板查看并督促",
    show: "显示窗口",
    quit: "退出",
    open: "打开",
    waiting: |n| format!("待签收/待派发 {n} 件"),
};

const EN: Texts = Texts {
    product: "Jiesu Jiban Desk",
    arrival: "New letters have arrived: please sign for or dispatch them",
    chased: "The supervising officer chased a case your unit handles: please act on it",
    to_sign: "A feedback form waits for your signature",
    escalated: "A unit below missed a sign-for or contact deadline: see the wall board",
    show: "Show window",
    quit: "Quit",
    open: "Open",
    waiting: |n| format!("{n} waiting to be signed for or dispatched"),
};

/// The language of the texts above: set from the settings at start and on each change,
/// so the tray and the notifications need nothing else from the app.
struct Language(Mutex<&'static Texts>);

/// Shows the tray and the notifications in `locale` (`en`, else Chinese) from now on.
pub fn set_language<R: Runtime>(app: &AppHandle<R>, locale: &str) {
    let texts = if locale == "en" { &EN } else { &ZH_CN };
    match app.try_state::<Language>() {
        Some(language) => *language.0.lock().unwrap_or_else(PoisonError::into_inner) = texts,
        None => {
            app.manage(Language(Mutex::new(texts)));
        }
    }
}

fn texts<R: Runtime>(app: &AppHandle<R>) -> &'static Texts {
    match app.try_state::<Language>() {
        Some(language) => *language.0.lock().unwrap_or_else(PoisonError::into_inner),
        None => &ZH_CN,
    }
}

/// The tray's count line, kept to update its text.
struct TrayCount<R: Runtime>(MenuItem<R>);

/// The tray's two faces: the app icon, and the same with a red badge while letters wait.
struct TrayIcons {
    plain: Image<'static>,
    badged: Image<'static>,
}

/// The badge's colour: the red of the overdue band, opaque.
const BADGE: [u8; 4] = [0xd0, 0x30, 0x30, 0xff];

/// The icon with a red dot over its top-right corner (a third of its size, with a white
/// ring so it reads on dark and light panels). Drawn from the app icon at start rather
/// than shipped as another file, so the two faces never drift apart.
pub fn badged_rgba(rgba: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = rgba.to_vec();
    let size = f64::from(width.min(height));
    let radius = size / 3.0 / 2.0 * 1.25;
    let (cx, cy) = (f64::from(width) - radius, radius);
    for y in 0..height {
        for x in 0..width {
            let (dx, dy) = (f64::from(x) + 0.5 - cx, f64::from(y) + 0.5 - cy);
            let d = (dx * dx + dy * dy).sqrt();
            let colour = if d <= radius * 0.78 {
                BADGE
            } else if d <= radius {
                [0xff, 0xff, 0xff, 0xff]
            } else {
                continue;
            };
            let i = ((y as usize) * (width as usize) + x as usize) * 4;
            if let Some(px) = out.get_mut(i..i + 4) {
                px.copy_from_slice(&colour);
            }
        }
    }
    out
}

/// Creates the tray icon: the count of waiting letters, "show window" and "quit".
pub fn create_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let t = texts(app);
    let count = MenuItem::with_id(app, "count", (t.waiting)(0), false, None::<&str>)?;
    let show = MenuItem::with_id(app, "show", t.show, true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", t.quit, true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&count, &separator, &show, &quit])?;
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip(t.product)
        .menu(&menu)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "show" => show_main_window(app),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
        let (w, h) = (icon.width(), icon.height());
        app.manage(TrayIcons {
            plain: icon.clone().to_owned(),
            badged: Image::new_owned(badged_rgba(icon.rgba(), w, h), w, h),
        });
    }
    tray.build(app)?;
    app.manage(TrayCount(count));
    app.manage(HidesToTray);
    Ok(())
}

/// Shows the number of letters waiting to be signed for in the tray.
pub fn show_count<R: Runtime>(app: &AppHandle<R>, waiting: usize) {
    let t = texts(app);
    let line = (t.waiting)(waiting);
    if let Some(item) = app.try_state::<TrayCount<R>>()
        && let Err(e) = item.0.set_text(&line)
    {
        tracing::debug!("tray menu: {e}");
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let tooltip = format!("{} — {line}", t.product);
        if let Err(e) = tray.set_tooltip(Some(&tooltip)) {
            tracing::debug!("tray tooltip: {e}");
        }
        // Linux trays show no tooltip; the label beside the icon carries the count.
        let title = (waiting > 0).then(|| waiting.to_string());
        if let Err(e) = tray.set_title(title) {
            tracing::debug!("tray title: {e}");
        }
        if let Some(icons) = app.try_state::<TrayIcons>() {
            let face = if waiting > 0 {
                &icons.badged
            } else {
                &icons.plain
            };
            if let Err(e) = tray.set_icon(Some(face.clone())) {
                tracing::debug!("tray icon: {e}");
            }
        }
    }
}

/// What waits for the user now, as the UI reads it (`waiting_status`).
pub fn waiting_status(alarm: &ArrivalAlarm) -> WaitingStatus {
    WaitingStatus {
        ids: alarm.waiting_ids(),
        sound_available: alarm.sound_available(),
    }
}

/// "(2) 接诉即办工作台": the count of letters waiting before the product's name, as the
/// taskbar shows it; the bare name when none wait. The UI's `windowTitle` is the same.
pub fn window_title(waiting: usize, product: &str) -> String {
    if waiting > 0 {
        format!("({waiting}) {product}")
    } else {
        product.to_owned()
    }
}

/// Tells the UI what waits (the title's count, the banner, the no-sound notice) and
/// puts the count in the window's title (the webview's `document.title` does not reach
/// the native title bar or the taskbar).
pub fn publish_waiting<R: Runtime>(app: &AppHandle<R>, alarm: &ArrivalAlarm) {
    let status = waiting_status(alarm);
    if let Some(window) = app.get_webview_window(MAIN_WINDOW)
        && let Err(e) = window.set_title(&window_title(status.ids.len(), texts(app).product))
    {
        tracing::debug!("cannot set the window title: {e}");
    }
    if let Err(e) = app.emit(events::WAITING_CHANGED, status) {
        tracing::warn!("cannot emit {}: {e}", events::WAITING_CHANGED);
    }
}

/// On an arrival, flashes the taskbar entry (Windows: until the window is focused; X11:
/// the urgency hint) unless the officer is already looking at the window.
pub fn ask_attention<R: Runtime>(app: &AppHandle<R>) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        return;
    };
    if window.is_focused().unwrap_or(false) {
        return;
    }
    if let Err(e) = window.request_user_attention(Some(UserAttentionType::Critical)) {
        tracing::debug!("cannot flash the taskbar: {e}");
    }
}

/// The OS notification for new letters (`letter`: the newest). Sent even when the chime
/// is muted.
pub fn notify_arrival<R: Runtime>(app: &AppHandle<R>, letter: Option<LetterId>) {
    notify(app, AlertKind::Arrival, letter, |t| t.arrival);
}

/// The OS notification for a chase (催办) of a case the user's unit handles.
pub fn notify_chase<R: Runtime>(app: &AppHandle<R>, letter: Option<LetterId>) {
    notify(app, AlertKind::Chase, letter, |t| t.chased);
}

/// The OS notification for feedback forms newly waiting for the chief (待签批).
pub fn notify_forms<R: Runtime>(app: &AppHandle<R>, letter: Option<LetterId>) {
    notify(app, AlertKind::FormsToSign, letter, |t| t.to_sign);
}

/// The OS notification for clocks breached at a unit below the desk (逐级上报).
pub fn notify_escalation<R: Runtime>(app: &AppHandle<R>, letter: Option<LetterId>) {
    notify(app, AlertKind::Escalation, letter, |t| t.escalated);
}

/// A click on an OS notification: the window comes to the front and the UI opens what
/// it announced (`notification-opened`).
pub fn open_from_notification<R: Runtime>(
    app: &AppHandle<R>,
    kind: AlertKind,
    letter: Option<LetterId>,
) {
    show_main_window(app);
    let opened = NotificationOpened {
        kind,
        letter_id: letter,
    };
    if let Err(e) = app.emit(events::NOTIFICATION_OPENED, opened) {
        tracing::warn!("cannot emit {}: {e}", events::NOTIFICATION_OPENED);
    }
}

fn notify<R: Runtime>(
    app: &AppHandle<R>,
    kind: AlertKind,
    letter: Option<LetterId>,
    body: fn(&Texts) -> &'static str,
) {
    static FAILED_ONCE: AtomicBool = AtomicBool::new(false);
    if app
        .try_state::<tauri_plugin_notification::Notification<R>>()
        .is_none()
    {
        return;
    }
    let t = texts(app);
    let app = app.clone();
    // Both paths talk to the OS synchronously (D-Bus; a click is waited for): keep them
    // off the async runtime.
    tauri::async_runtime::spawn_blocking(move || {
        if let Err(e) = show_notification(&app, t, body(t), kind, letter)
            && !FAILED_ONCE.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "cannot show OS notifications ({e}); the window and the chime still alert"
            );
        }
    });
}

/// Linux: the Freedesktop notification with its `default` action, so that a click on
/// it is reported (the official plugin shows notifications without keeping the handle,
/// and reports no click on a desktop); this thread waits for the click or the close.
#[cfg(target_os = "linux")]
fn show_notification<R: Runtime>(
    app: &AppHandle<R>,
    t: &'static Texts,
    body: &str,
    kind: AlertKind,
    letter: Option<LetterId>,
) -> Result<(), String> {
    let handle = notify_rust::Notification::new()
        .appname(t.product)
        .summary(t.product)
        .body(body)
        .action("default", t.open)
        .show()
        .map_err(|e| e.to_string())?;
    let app = app.clone();
    handle.wait_for_action(move |action| {
        if action == "default" {
            open_from_notification(&app, kind, letter);
        }
    });
    Ok(())
}

/// Elsewhere: the official plugin. On Windows a click on the toast brings the app
/// forward (its AUMID) without saying which letter; the banner's 打开最新 opens it.
#[cfg(not(target_os = "linux"))]
fn show_notification<R: Runtime>(
    app: &AppHandle<R>,
    t: &'static Texts,
    body: &str,
    _kind: AlertKind,
    _letter: Option<LetterId>,
) -> Result<(), String> {
    app.notification()
        .builder()
        .title(t.product)
        .body(body)
        .show()
        .map_err(|e| e.to_string())
}

/// Present (managed) once the tray exists: closing the main window then hides it.
pub struct HidesToTray;

/// Closing the main window hides it to the tray, where there is one, so that the app —
/// and the arrival alarm — keeps running; "quit" in the tray menu ends it. Without a
/// tray (no tray host, tests) closing the window quits as usual: a hidden window with
/// no way back would be an app nobody can see or stop.
///
/// Handled as a run event (see `crate::on_run_event`) rather than a window listener:
/// both see `CloseRequested` before the window closes, and the run event is what the
/// mock runtime delivers too, so the tests drive this very code.
pub fn keep_running_in_tray<R: Runtime>(
    app: &AppHandle<R>,
    label: &str,
    event: &tauri::WindowEvent,
) {
    if let tauri::WindowEvent::CloseRequested { api, .. } = event
        && label == MAIN_WINDOW
        && app.try_state::<HidesToTray>().is_some()
    {
        api.prevent_close();
        if let Some(window) = app.get_webview_window(MAIN_WINDOW)
            && let Err(e) = window.hide()
        {
            tracing::warn!("cannot hide the window to the tray: {e}");
        }
    }
}

/// Brings the main window to the front (tray menu, a second launch).
pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Puts the main window in or out of full screen (the wall board on a duty-room screen);
/// returns whether it is full screen now.
pub fn set_full_screen<R: Runtime>(app: &AppHandle<R>, on: bool) -> tauri::Result<bool> {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        return Ok(false);
    };
    window.set_fullscreen(on)?;
    window.is_fullscreen()
}
