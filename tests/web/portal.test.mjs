// The citizen portal in real Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), against a real `jsjb-server demo` on a free port with a temp DB.
//
// 1. Without JavaScript, at phone size (390×844, WeChat's user agent): write a letter
//    with an image → tracking code → it arrives at the desk (API) → the desks move it
//    (dispatch, sign_for, record_contact, give_first_feedback) and the writer's
//    progress page follows each step.
// 2. With axe-core injected: every portal page, no serious or critical violations, and
//    no example (示例) text on any of them.
// 3. The write form's faults, all at once, beside their fields and in a summary; the
//    Chinese file pickers.
// 4. With JavaScript, under the pages' own CSP (not bypassed): /static/portal.js names
//    the chosen files and copies the tracking code to the clipboard; no CSP violation.
// 5. The rating form's faults, all at once, beside their fields.
//
// Screenshots go to tests/.artifacts/web/ (or $JSJB_WEB_SHOTS). The SMS code is read from the server's log
// (the demo has no SMS gateway: `LogSms` logs the text).
//
// JSJB_SERVER_BIN: the server binary (default: $CARGO_TARGET_DIR or target/, then debug/jsjb-server). Arrivals are
// slowed to one an hour rather than off: demo mode installs its routing rules with them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const artifacts = process.env.JSJB_WEB_SHOTS ?? join(root, 'tests', '.artifacts', 'web');
const axePath = join(here, 'node_modules', 'axe-core', 'axe.min.js');
const DEMO_PASSWORD = 'jsjb-demo-2026'; // crates/server/src/demo.rs
const PHONE_SIZE = { width: 390, height: 844 };
const WECHAT_UA =
  'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560 NetType/WIFI Language/zh_CN';
// A real 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==',
  'base64',
);

let server;
let log = '';
let base;
let dir;
let browser;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(check, what, ms = 60_000) {
  const until = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found) return found;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n--- server log ---\n${log.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'jsjb-web-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const bin =
    process.env.JSJB_SERVER_BIN ??
    join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'jsjb-server');
  server = spawn(
    bin,
    ['--db', join(dir, 'jsjb.sqlite3'), '--blob-dir', join(dir, 'blobs'), '--listen', `127.0.0.1:${port}`,
      'demo', '--days', '2', '--per-day', '4', '--arrival-secs', '3600'],
    {
      env: {
        ...process.env,
        NO_COLOR: '1',
        RUST_LOG: 'info',
        // One address (this test) makes all the requests: lift the per-address limit.
        JSJB_RATE_IP_BURST: '1000',
        JSJB_ARGON2_MEMORY_KIB: '1024',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  server.stdout.on('data', (d) => (log += d.toString()));
  server.stderr.on('data', (d) => (log += d.toString()));
  await waitFor(async () => {
    try {
      return (await fetch(`${base}/healthz`)).ok;
    } catch {
      return false;
    }
  }, 'the demo server');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// --- the desks' API -------------------------------------------------------------

async function api(path, { token, method = 'GET', body, headers = {} } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function login(username) {
  const res = await api('/api/v1/auth/login', { method: 'POST', body: { username, password: DEMO_PASSWORD } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.token;
}

/** The letter with this tracking code in the desk's synced scope, or null. */
async function findLetter(token, code) {
  let cursor = 0;
  let found = null;
  for (;;) {
    const page = await api(`/api/v1/sync?cursor=${cursor}&limit=500`, { token });
    assert.equal(page.status, 200);
    for (const change of page.body.changes) {
      if (change.letter?.tracking_code === code) found = change.letter;
    }
    if (!page.body.has_more) return found;
    cursor = page.body.next_cursor;
  }
}

async function act(token, letter, action) {
  const res = await api(`/api/v1/letters/${letter.id}/actions`, {
    token,
    method: 'POST',
    headers: { 'idempotency-key': randomUUID() },
    body: { expected_version: letter.version, action },
  });
  assert.equal(res.status, 200, `${action.action}: ${JSON.stringify(res.body)}`);
  return res.body.letter;
}

// --- the portal -----------------------------------------------------------------

function maskedPhone(phone) {
  return `${phone.slice(0, 3)}****${phone.slice(-4)}`;
}

/** The code the demo's log sender "sent" to this phone (the newest). */
async function smsCode(phone) {
  const masked = maskedPhone(phone).replace(/\*/g, '\\*');
  return waitFor(() => {
    const all = [...log.matchAll(new RegExp(`phone=${masked}.*?验证码是 (\\d{6})`, 'g'))];
    return all.length ? all[all.length - 1][1] : null;
  }, `the SMS code for ${phone}`, 10_000);
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

async function submit(page) {
  await Promise.all([page.waitForLoadState('load'), page.click('main button[type=submit]')]);
}

/** Steps 1–3 of the portal; returns the tracking code. */
async function writeLetter(page, { name, phone, text, category = 'help', image = false, thanksFor, onPage }) {
  await page.goto(`${base}${thanksFor !== undefined ? '/thanks/new' : '/letters/new'}`);
  await onPage?.('1-start');
  await page.fill('#name', name);
  await page.fill('#phone', phone);
  await page.check('#consent');
  await submit(page);
  await page.waitForSelector('#code');
  await onPage?.('2-verify');
  await page.fill('#code', await smsCode(phone));
  await submit(page);
  await page.waitForSelector('#body');
  if (thanksFor !== undefined) {
    await page.fill('#about-code', thanksFor);
  } else {
    await page.check(`#cat-${category}`);
  }
  await page.fill('#body', text);
  if (image) {
    await page.setInputFiles('#images', { name: '现场照片.png', mimeType: 'image/png', buffer: PNG });
  }
  await onPage?.('3-write');
  await submit(page);
  const code = (await page.textContent('#tracking-code'))?.trim();
  assert.match(code ?? '', /^SZ\d{8}[2-9A-Z]{6}$/, await page.content());
  await onPage?.('4-done');
  return code;
}

async function progressTimeline(page, code, last4) {
  await page.goto(`${base}/progress?code=${code}&phone_last4=${last4}`);
  return page.textContent('main');
}

/** An instant as the portal writes a deadline: China Standard Time, YYYY-MM-DD HH:mm. */
function cstMinute(ms) {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ');
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** The receipt: the 30-minute promise, and a code that one tap selects whole. */
async function checkReceipt(page, code) {
  // Without script there is no copy button to press in vain.
  assert.equal(await page.isHidden('#copy-code'), true);
  const text = await page.textContent('main');
  assert.match(text, /我们将在30分钟内与您电话联系/);
  assert.match(text, /长按或选中即可复制/);
  assert.equal(await page.$eval('#tracking-code', (e) => getComputedStyle(e).userSelect), 'all');
  await page.click('#tracking-code');
  assert.equal((await page.evaluate(() => String(getSelection()))).trim(), code);
}

test('a letter written without JavaScript reaches a desk, and its progress follows the desks', async () => {
  const context = await browser.newContext({
    viewport: PHONE_SIZE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    javaScriptEnabled: false,
    userAgent: WECHAT_UA,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
  });
  const page = await context.newPage();
  const phone = '13800138123';
  const code = await writeLetter(page, {
    name: '陈小文',
    phone,
    image: true,
    text: '华强北步行街附近每天夜里有人飙车，噪音很大，请派人处理。',
    onPage: async (step) => {
      if (step === '4-done') await checkReceipt(page, (await page.textContent('#tracking-code')).trim());
      await shot(page, `flow-${step}`);
    },
  });

  // It arrives: the demo's routing rules send a 华强北 letter to 福田分局's desk.
  const branchDesk = await login('futianfj.desk');
  let letter = await waitFor(() => findLetter(branchDesk, code), 'the letter at 福田分局');
  assert.equal(letter.channel, 'web');
  assert.equal(letter.state, 'dispatched');
  assert.equal(letter.attachments.length, 1);
  assert.equal(letter.attachments[0].mime, 'image/png');
  assert.equal(letter.writer.masked, true);

  let text = await progressTimeline(page, code, phone.slice(-4));
  assert.match(text, /已受理/);
  assert.match(text, /已转交承办单位/);
  // The next deadline, from the letter's clocks: an officer calls within 30 minutes of receipt.
  const received = Date.parse(letter.received_at);
  assert.equal(
    (await page.textContent('#next-step')).trim(),
    `下一步：民警与您联系，预计 ${cstMinute(received + 30 * MINUTE)} 前`,
  );
  await shot(page, 'flow-5-progress-dispatched');

  const admin = await login('admin');
  const units = await api('/api/v1/admin/units', { token: admin });
  const huafu = units.body.units.find((u) => u.name === '华富派出所');
  assert.ok(huafu, JSON.stringify(units.body));
  letter = await act(branchDesk, letter, { action: 'dispatch', to: huafu.id, note: '华强北辖区' });
  const officer = await login('huafu.ma');
  letter = await act(officer, letter, { action: 'sign_for' });
  text = await progressTimeline(page, code, phone.slice(-4));
  assert.match(text, /承办单位已签收/);
  assert.match(text, /办理中/);

  letter = await act(officer, letter, {
    action: 'record_contact', method: 'phone', outcome: 'reached',
    contacted_at: new Date().toISOString(), note: '内部备注：来信人情绪平稳',
  });
  letter = await act(officer, letter, {
    action: 'give_first_feedback', text: '已安排巡逻警力夜间到华强北步行街周边蹲守。',
  });
  text = await progressTimeline(page, code, phone.slice(-4));
  assert.match(text, /民警已与您联系/);
  assert.match(text, /首次反馈/);
  assert.match(text, /已安排巡逻警力/);
  // Internal notes and officers' names never reach the writer.
  assert.doesNotMatch(text, /内部备注|马/);
  assert.match(text, /\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}/);
  // Called and told: what is left is the closure, 15 days from receipt.
  assert.equal(
    (await page.textContent('#next-step')).trim(),
    `下一步：办结答复，预计 ${cstMinute(received + 15 * DAY)} 前`,
  );
  await shot(page, 'flow-6-progress-feedback');

  // A wrong last-4 shows nothing.
  text = await progressTimeline(page, code, '0000');
  assert.match(text, /没有找到/);
  await context.close();
});

test('every portal page passes axe-core (no serious or critical violations)', async () => {
  const context = await browser.newContext({
    viewport: PHONE_SIZE,
    deviceScaleFactor: 1,
    isMobile: true,
    userAgent: WECHAT_UA,
    locale: 'zh-CN',
    // The pages forbid every script; axe has to be let in.
    bypassCSP: true,
  });
  const page = await context.newPage();
  const report = [];
  const check = async (name) => {
    // No example data in production: not in the text, not in a placeholder.
    assert.doesNotMatch(await page.textContent('body'), /示例/, name);
    const placeholders = await page.$$eval('[placeholder]', (els) => els.map((e) => e.placeholder));
    assert.ok(placeholders.every((p) => !/示例/.test(p)), `${name}: ${placeholders}`);
    await page.addScriptTag({ path: axePath });
    const result = await page.evaluate(() =>
      // eslint-disable-next-line no-undef
      axe.run(document, { resultTypes: ['violations'] }),
    );
    const bad = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
    report.push(`${name}: ${result.violations.length} violations (${bad.length} serious/critical)${
      result.violations.length ? ' — ' + result.violations.map((v) => `${v.id}/${v.impact}`).join(', ') : ''}`);
    assert.deepEqual(
      bad.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) })),
      [],
      `${name}: ${page.url()}`,
    );
    await shot(page, `axe-${name}`);
  };
  for (const [name, path] of [['home', '/'], ['privacy', '/privacy'], ['progress-form', '/progress']]) {
    await page.goto(`${base}${path}`);
    await check(name);
  }
  const phone = '13900139456';
  const code = await writeLetter(page, {
    name: '王芳',
    phone,
    text: '想咨询一下居住证的办理流程。',
    category: 'inquiry',
    onPage: async (step) => {
      // The form with a file chosen: the script's list of names is checked too.
      if (step === '3-write') {
        await page.setInputFiles('#images', { name: '居住证.png', mimeType: 'image/png', buffer: PNG });
        await page.waitForSelector('#images-chosen:not([hidden])');
      }
      await check(`letter-${step}`);
    },
  });
  await progressTimeline(page, code, phone.slice(-4));
  await check('progress-timeline');
  await page.goto(`${base}/letters/${code}/rate`);
  await check('rate');
  await submit(page);
  await page.waitForSelector('#form-error');
  await check('rate-faults');
  await writeLetter(page, {
    name: '王芳',
    phone,
    text: '感谢华富派出所民警的耐心解答。',
    thanksFor: code,
    onPage: (step) => check(`thanks-${step}`),
  });
  // Forms with faults, all shown at once.
  await page.goto(`${base}/letters/new`);
  await submit(page);
  await page.waitForSelector('#form-error');
  await check('start-faults');
  // An error page too: a wrong verification code.
  await page.goto(`${base}/letters/new`);
  await page.fill('#name', '王芳');
  await page.fill('#phone', '13700137000');
  await page.check('#consent');
  await submit(page);
  await page.fill('#code', '000000');
  await submit(page);
  await check('verify-error');
  console.log(`axe-core ${(await page.evaluate(() => axe.version))}:\n  ${report.join('\n  ')}`);
  await context.close();
});

test('the letter form shows every fault at once, beside its field, with Chinese file pickers', async () => {
  const context = await browser.newContext({
    viewport: PHONE_SIZE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    javaScriptEnabled: false,
    userAgent: WECHAT_UA,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
  });
  const page = await context.newPage();
  const summaryItems = () => page.$$eval('#form-error li', (els) => els.map((e) => e.textContent.trim()));
  const fieldError = (id) => page.textContent(`#${id}-error`).then((t) => t?.trim());

  // Step 1 sent empty: the name, the phone and the consent, all three.
  await page.goto(`${base}/letters/new`);
  await page.fill('#phone', '1380013');
  await submit(page);
  assert.match(await page.textContent('#form-error'), /提交的内容有 3 处需要修改/);
  assert.deepEqual(await summaryItems(), [
    '请填写姓名（不超过 32 字）。',
    '请填写正确的 11 位手机号码。',
    '请阅读并同意《个人信息保护说明》。',
  ]);
  assert.equal(await fieldError('name'), '请填写姓名（不超过 32 字）。');
  assert.equal(await fieldError('phone'), '请填写正确的 11 位手机号码。');
  assert.equal(await fieldError('consent'), '请阅读并同意《个人信息保护说明》。');
  assert.equal(await page.getAttribute('#phone', 'aria-invalid'), 'true');
  assert.match(await page.getAttribute('#phone', 'aria-describedby'), /phone-error/);
  assert.equal(await page.inputValue('#phone'), '1380013');
  // The summary's links lead to their fields.
  assert.deepEqual(
    await page.$$eval('#form-error a', (els) => els.map((a) => a.getAttribute('href'))),
    ['#name', '#phone', '#consent'],
  );
  await shot(page, 'faults-1-start');

  // Fixed, on to the letter.
  const phone = '13600136789';
  await page.fill('#name', '<i>赵六</i>');
  await page.fill('#phone', phone);
  await page.check('#consent');
  await submit(page);
  await page.fill('#code', await smsCode(phone));
  await submit(page);
  await page.waitForSelector('#body');

  // The file pickers: Chinese buttons over hidden native inputs.
  assert.match(await page.textContent('fieldset.files legend'), /选择图片或语音文件/);
  assert.deepEqual(
    await page.$$eval('label.picker', (els) => els.map((e) => e.textContent.trim())),
    ['选择图片', '选择语音'],
  );
  for (const id of ['images', 'voices']) {
    const box = await page.$eval(`#${id}`, (e) => {
      const r = e.getBoundingClientRect();
      return { w: r.width, h: r.height };
    });
    assert.ok(box.w <= 1 && box.h <= 1, `#${id} is not drawn: ${JSON.stringify(box)}`);
  }
  const button = await page.$eval('label.picker .picker-button', (e) => {
    const r = e.getBoundingClientRect();
    return { w: r.width, h: r.height };
  });
  assert.ok(button.h >= 44 && button.w >= 120, `a finger-sized button: ${JSON.stringify(button)}`);
  await shot(page, 'faults-2-write');
  // Tapping the Chinese button opens the browser's picker (no script involved).
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('label.picker >> text=选择图片')]);
  assert.equal(chooser.isMultiple(), true);
  // Not an image: the picker's fault, and the empty body's, both at once.
  await chooser.setFiles({ name: '说明.txt', mimeType: 'image/png', buffer: Buffer.from('这不是图片'.repeat(20)) });
  await page.fill('#body', '   ');
  await submit(page);
  assert.match(await page.textContent('#form-error'), /提交的内容有 2 处需要修改/);
  // In the order of the form.
  const items = await summaryItems();
  assert.equal(items.length, 2, items.join(' | '));
  assert.match(items[0], /^请填写来信内容/);
  assert.match(items[1], /^附件格式不支持/);
  assert.match(await fieldError('body'), /请填写来信内容/);
  assert.match(await fieldError('images'), /附件格式不支持/);
  assert.match(await page.textContent('main'), /如有附件，请重新选择/);
  await shot(page, 'faults-3-write');

  // Right at last: a letter, and the writer's name (typed as markup) stays text.
  await page.fill('#body', '小区门口的路灯坏了一个月。');
  await submit(page);
  const code = (await page.textContent('#tracking-code'))?.trim();
  assert.match(code ?? '', /^SZ\d{8}[2-9A-Z]{6}$/, await page.content());
  await checkReceipt(page, code);
  await shot(page, 'faults-4-done');
  await context.close();
});

/** A context with script on and the pages' own CSP in force; fails on any CSP report or page error. */
async function scriptedPage() {
  const context = await browser.newContext({
    viewport: PHONE_SIZE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    userAgent: WECHAT_UA,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  const troubles = [];
  page.on('console', (m) => {
    // A form sent back with its faults answers 400: the browser says so, and that is no trouble.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      troubles.push(m.text());
    }
  });
  page.on('pageerror', (e) => troubles.push(String(e)));
  return { context, page, troubles };
}

test('with script, the letter form names the chosen files and the receipt copies its code', async () => {
  const { context, page, troubles } = await scriptedPage();
  const phone = '13500135246';
  let shown = 0;
  const code = await writeLetter(page, {
    name: '刘洋',
    phone,
    text: '小区地下车库的监控坏了，电动车接连被盗。',
    onPage: async (step) => {
      if (step !== '3-write') return;
      // The script ran under the page's CSP (script-src 'self' and Trusted Types).
      assert.equal(await page.isHidden('#images-chosen'), true);
      await page.setInputFiles('#images', [
        { name: '车库入口.png', mimeType: 'image/png', buffer: PNG },
        { name: '被撬的锁.png', mimeType: 'image/png', buffer: PNG },
      ]);
      await page.waitForSelector('#images-chosen:not([hidden])');
      assert.deepEqual(
        await page.$$eval('#images-chosen li', (els) => els.map((e) => e.textContent)),
        ['车库入口.png（1 KB）', '被撬的锁.png（1 KB）'],
      );
      assert.equal(await page.getAttribute('#images-chosen', 'aria-label'), '已选择的图片');
      assert.equal(await page.isHidden('#voices-chosen'), true);
      // A second pick replaces the first, as the hint says, and the list follows.
      await page.setInputFiles('#images', [{ name: '车库入口.png', mimeType: 'image/png', buffer: PNG }]);
      assert.deepEqual(
        await page.$$eval('#images-chosen li', (els) => els.map((e) => e.textContent)),
        ['车库入口.png（1 KB）'],
      );
      await page.locator('#images-chosen').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(artifacts, 'script-1-chosen-files.png') });
      shown += 1;
    },
  });
  assert.equal(shown, 1);
  // The receipt: the button shows, copies, and says so.
  assert.equal(await page.isVisible('#copy-code'), true);
  assert.equal((await page.textContent('#copy-code')).trim(), '复制查询编号');
  await page.evaluate(() => navigator.clipboard.writeText('nothing yet'));
  await page.click('#copy-code');
  await page.waitForFunction(() => document.getElementById('copy-status').textContent !== '');
  assert.equal((await page.textContent('#copy-status')).trim(), '已复制查询编号');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), code);
  await shot(page, 'script-2-copied');
  assert.deepEqual(troubles, []);
  await context.close();
});

test('the rating form shows every fault at once, beside its field', async () => {
  const { context, page, troubles } = await scriptedPage();
  const summaryItems = () => page.$$eval('#form-error li', (els) => els.map((e) => e.textContent.trim()));
  await page.goto(`${base}/letters/SZ20261231K7PQ2X/rate`);
  // No script on this page: its CSP has no script-src.
  assert.equal(await page.$('script'), null);
  await submit(page);
  assert.match(await page.textContent('#form-error'), /提交的内容有 2 处需要修改/);
  assert.deepEqual(await summaryItems(), ['请填写手机号后四位（4 位数字）。', '请选择满意、基本满意或不满意。']);
  assert.equal((await page.textContent('#phone_last4-error')).trim(), '请填写手机号后四位（4 位数字）。');
  assert.equal((await page.textContent('#satisfaction-error')).trim(), '请选择满意、基本满意或不满意。');
  assert.equal(await page.getAttribute('#phone_last4', 'aria-invalid'), 'true');
  await shot(page, 'rate-1-faults');
  // Three at once: too few digits, no choice, a comment past 500 characters (set past
  // the textarea's maxlength, as a script or an old browser could send it).
  await page.fill('#phone_last4', '56');
  await page.$eval('#comment', (e) => {
    e.value = '等'.repeat(501);
  });
  await submit(page);
  assert.match(await page.textContent('#form-error'), /提交的内容有 3 处需要修改/);
  assert.deepEqual(
    await page.$$eval('#form-error a', (els) => els.map((a) => a.getAttribute('href'))),
    ['#phone_last4', '#satisfaction', '#comment'],
  );
  assert.equal((await page.textContent('#comment-error')).trim(), '意见不超过 500 字。');
  assert.equal(await page.inputValue('#phone_last4'), '56');
  await shot(page, 'rate-2-faults');
  // Right in form: the fault is the letter's, one line, no field marked.
  await page.fill('#phone_last4', '5678');
  await page.fill('#comment', '');
  await page.check('#s-satisfied');
  await submit(page);
  assert.match(await page.textContent('#form-error'), /没有找到/);
  assert.equal(await page.$('[aria-invalid=true]'), null);
  assert.equal(await page.isChecked('#s-satisfied'), true);
  assert.deepEqual(troubles, []);
  await context.close();
});
