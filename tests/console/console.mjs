// Drives Debian's chromium through `sluice console` (tests/console.rs starts everything and runs
// this script). Steps: the login page stops an unauthenticated visit; a wrong secret is told so;
// the admin logs in; the Channels page shows the failing channel out of rotation (then the test
// lets it recover, told through a marker file) and healthy again; an order's story shows its
// routing explanation; /reviews lists the payment the test left in the review queue and the one
// an admin approved, and the risk dashboard shows their rule's figures and the score
// distribution. Screenshots go to
// SCREENSHOTS. Each step prints one line; any failure
// exits 1 with the reason.
//
// Environment: CONSOLE_URL, ADMIN_KEY, ADMIN_SECRET, CHANNEL_NAME, SCREENSHOTS, MARKERS (a directory:
// this script writes `saw-unhealthy` there; the test writes `review-order-id`,
// `approved-order-id` and then `order-id` once the flow is exported).
import { chromium } from 'playwright-core';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env('CONSOLE_URL');
const shots = env('SCREENSHOTS');
const markers = env('MARKERS');
const channel = env('CHANNEL_NAME');

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

async function shot(page, name) {
  const path = join(shots, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

// Reloads the Channels page until `pick(bannerText, page)` holds, for at most `seconds`.
async function channelsUntil(page, seconds, pick, what) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    await page.goto(`${url}/channels`);
    const banner = (await page.textContent('#health-banner')) ?? '';
    if (await pick(banner, page)) return banner;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; banner: ${banner}`);
    await page.waitForTimeout(500);
  }
}

async function login(page) {
  await page.goto(`${url}/channels`);
  check(page.url().endsWith('/login'), 'an unauthenticated visit lands on the login page');
  await page.fill('#key', env('ADMIN_KEY'));
  await page.fill('#secret', 'not-the-secret');
  await page.click('#login-submit');
  const error = (await page.textContent('#login-error')) ?? '';
  check(error.includes('Wrong key or secret'), `a wrong secret is refused: ${error}`);
  await shot(page, 'login-refused.png');
  await page.fill('#key', env('ADMIN_KEY'));
  await page.fill('#secret', env('ADMIN_SECRET'));
  await page.click('#login-submit');
  await page.waitForSelector('#tile-throughput');
  check(new URL(page.url()).pathname === '/', 'the admin is logged in and sees the overview');
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'sluice_console');
  check(session && session.httpOnly && session.sameSite === 'Strict', 'the session cookie is HttpOnly, SameSite=Strict');
}

async function channels(page) {
  await channelsUntil(page, 90, (b) => b.includes('Unhealthy') && b.includes(channel), `${channel} unhealthy`);
  check(true, `the Channels page shows ${channel} unhealthy`);
  await shot(page, 'channels-unhealthy.png');
  writeFileSync(join(markers, 'saw-unhealthy'), 'yes\n');
  const exported = async (b, p) => {
    if (!b.includes('All channels healthy')) return false;
    const table = await p.$('#health-history');
    const history = table ? (await table.textContent()) ?? '' : '';
    return history.includes('Healthy → Open') && history.includes('Probing → Healthy');
  };
  await channelsUntil(page, 120, exported, `${channel} recovered, and its exported timeline`);
  check(true, 'the exported health timeline shows it going out and coming back');
  check(true, `the Channels page shows ${channel} recovered`);
  await shot(page, 'channels-recovered.png');
}

async function order(page) {
  const marker = join(markers, 'order-id');
  for (let i = 0; !existsSync(marker); i++) {
    if (i > 1200) throw new Error('no order id from the test');
    await page.waitForTimeout(100);
  }
  const orderId = readFileSync(marker, 'utf8').trim();
  await page.goto(`${url}/order`);
  await page.fill('#order-id', orderId);
  await page.click('#order-search');
  await page.waitForSelector('#routing');
  const routing = (await page.textContent('#routing')) ?? '';
  check(routing.includes('Chosen') && routing.includes(channel), `order ${orderId}: the routing explanation names the chosen channel: ${routing.slice(0, 160)}`);
  const story = (await page.textContent('#story')) ?? '';
  check(story.includes('Payment requested') && story.includes('Attempt 1'), 'the story tells the request and its attempts');
  await shot(page, 'order.png');
  for (const p of ['/', '/reports']) {
    await page.goto(`${url}${p}`);
    await shot(page, `page${p === '/' ? '-overview' : p.replace('/', '-')}.png`);
  }
}

// Of the two payments the test sent to review, one waits in the queue and one was approved; the
// risk dashboard counts both for their rule, the approved one labelled good.
async function reviews(page) {
  const queued = readFileSync(join(markers, 'review-order-id'), 'utf8').trim();
  const approved = readFileSync(join(markers, 'approved-order-id'), 'utf8').trim();
  await page.goto(`${url}/reviews`);
  const firstCells = async (table) => page.$$eval(`#${table} tbody tr`, (trs) => trs.map((tr) => tr.cells[0].textContent));
  const queue = await firstCells('reviews-queue');
  check(queue.length === 1 && queue[0] === queued, `the review queue lists order ${queued} only: ${queue}`);
  const queueText = (await page.textContent('#reviews-queue')) ?? '';
  check(queueText.includes('6000.00'), `with its amount: ${queueText.slice(0, 200)}`);
  const decided = (await page.textContent('#reviews-decided')) ?? '';
  check((await firstCells('reviews-decided')).includes(approved) && decided.includes('Approve'), `order ${approved} is decided Approve: ${decided.slice(0, 200)}`);
  await shot(page, 'reviews.png');
  await page.goto(`${url}/risk`);
  const rows = await page.$$eval('#risk-rules tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const row = rows.find((cells) => cells[0] === '11');
  // Rule, hits, blocked, reviewed, shadow, labelled fraud, labelled good, ...
  check(row && row[1] === '2' && row[3] === '2' && row[6] === '1', `rule 11: two hits reviewed, one labelled good: ${JSON.stringify(rows)}`);
  check((await page.$('#chart-risk-scores')) !== null, 'the risk dashboard draws the score distribution');
  await shot(page, 'risk.png');
}

// The payment in 3 installments: its plan's schedule on the Finance page, each installment due.
async function finance(page) {
  const plan = readFileSync(join(markers, 'plan-order-id'), 'utf8').trim();
  await page.goto(`${url}/finance`);
  const rows = await page.$$eval('#finance-installments tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const mine = rows.filter((cells) => cells[0] === plan);
  check(mine.length === 3, `plan ${plan} shows its three installments: ${JSON.stringify(rows)}`);
  // Plan, party, state, installment, due day, due, repaid, late fees, outstanding, status.
  check(mine.every((cells, i) => cells[3] === String(i + 1) && cells[5] === cells[8]), `each is due and outstanding in full: ${JSON.stringify(mine)}`);
  check(mine.some((cells) => cells[5] === '400.00'), `1,200.00 in three: ${JSON.stringify(mine)}`);
  await shot(page, 'finance.png');
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await login(page);
  await channels(page);
  await order(page);
  await reviews(page);
  await finance(page);
  console.log('console browser test passed');
} catch (e) {
  console.error(`console browser test FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
