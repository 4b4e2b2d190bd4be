import { expect } from "chai";
import hre, { network } from "hardhat";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, type Page, chromium } from "playwright-core";

import { type Dashboard, startDashboard } from "../../src/dashboard/start.js";
import { PROJECT_ROOT } from "../../src/paths.js";
import { RequestState } from "../../src/protocol/state.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { type SibylTestbed, deploySibyl } from "../../src/testing/index.js";
import { breakableProvider } from "../helpers/breakable-provider.js";

/**
 * The dashboard as a user sees it: a running stack on the in-process network (Iris, a real node
 * proving with Groth16, requests through the client), the dashboard served against it, and the
 * page loaded in Debian's Chromium (headless, through playwright-core). It checks the page
 * against the chain, watches a new request's bar appear and settle without a reload, and saves
 * a screenshot to test-artifacts/dashboard.png.
 */

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOT = join(PROJECT_ROOT, "test-artifacts", "dashboard.png");

const connection = await network.create();
const { ethers } = connection;

const SAMPLES = [
  [5.1, 3.5, 1.4, 0.2],
  [6.4, 3.2, 4.5, 1.5],
  [6.3, 3.3, 6.0, 2.5],
];

describe("dashboard in headless Chromium", function () {
  this.timeout(180_000);
  let sibyl: SibylTestbed;
  let dashboard: Dashboard;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const requests: string[] = [];
  const pageErrors: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `no Chromium at ${CHROMIUM}: the dashboard's browser test needs it; install it with ` +
          "`apt-get install chromium` (CI installs it)",
      );
    sibyl = await deploySibyl(hre, connection);
    for (const sample of SAMPLES.slice(0, 2)) requests.push(await sibyl.request(sibyl.quantize(sample)));
    for (const id of requests) await sibyl.waitSettled(id);

    dashboard = await startDashboard({
      precompile: sibyl.precompile,
      registry: sibyl.registry,
      fromBlock: 0,
      pollMs: 100,
      port: 0,
    });
    profile = mkdtempSync(join(tmpdir(), "sibyl-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 1000 },
    });
    page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
    });
  });

  after(async function () {
    await context?.close();
    await dashboard?.close();
    await sibyl?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** The number a header figure shows. */
  const figure = (name: string) => page.locator(`[data-figure="${name}"] .n`).innerText();

  /** How many of this test's requests the chain has in `state`. */
  async function countOnChain(state: RequestState): Promise<number> {
    const states = await Promise.all(requests.map((id) => sibyl.stateOf(id)));
    return states.filter((s) => s === state).length;
  }

  it("draws every request's bar, and header figures that match the chain", async function () {
    await page.goto(dashboard.url);
    await page.waitForSelector('[data-state="settled"]');
    await page.waitForFunction(
      (n) => document.querySelectorAll('.bar[data-state="settled"]').length === n,
      requests.length,
    );

    expect(await figure("settled")).to.equal(String(await countOnChain(RequestState.Settled)));
    expect(await figure("answered")).to.equal("0");
    expect(await figure("requested")).to.equal("0");
    expect(await page.locator('[data-figure="value-at-risk"]').getAttribute("data-wei")).to.equal("0");
    for (const id of requests)
      expect(await page.locator(`[data-request-id="${id}"]`).getAttribute("data-state")).to.equal("settled");
    expect(await page.locator("#status").getAttribute("data-status")).to.equal("live");
    expect(await page.locator("#bond-charts svg").count()).to.equal(1); // one node
  });

  it("shows a new request's bar live, without a reload, through to its settlement", async function () {
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    const id = await sibyl.request(sibyl.quantize(SAMPLES[2]));
    requests.push(id);

    await page.waitForSelector(`[data-request-id="${id}"]`);
    await page.waitForSelector(`[data-request-id="${id}"][data-state="settled"]`);
    expect(
      await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument),
    ).to.equal(true);
    await page.waitForFunction(
      (n) => document.querySelector('[data-figure="settled"] .n')?.textContent === String(n),
      await countOnChain(RequestState.Settled),
    );
  });

  it("shows an open trust gap and the value at risk behind it, as the chain has them", async function () {
    await sibyl.stopNode();
    const gap = await sibyl.request(sibyl.quantize(SAMPLES[0]));
    const { output } = runQuantized(sibyl.models.iris.artifacts.quantized, sibyl.quantize(SAMPLES[0]));
    await sibyl.answerWithoutProof(gap, output);
    const waiting = await sibyl.request(sibyl.quantize(SAMPLES[1]));
    requests.push(gap, waiting);

    await page.waitForSelector(`[data-request-id="${gap}"][data-state="answered"]`);
    await page.waitForSelector(`[data-request-id="${waiting}"][data-state="requested"]`);
    const atRisk = await sibyl.precompile.bondBacking(gap);
    expect(atRisk > 0n).to.equal(true);
    await page.waitForFunction(
      (wei) => document.querySelector('[data-figure="value-at-risk"]')?.getAttribute("data-wei") === wei,
      atRisk.toString(),
    );
    expect(await figure("answered")).to.equal(String(await countOnChain(RequestState.Answered)));
    expect(await figure("requested")).to.equal(String(await countOnChain(RequestState.Requested)));
    expect(await figure("settled")).to.equal(String(await countOnChain(RequestState.Settled)));
    // the open gap runs to the live edge; its settlement deadline is marked (or lies beyond the axis)
    const bar = page.locator(`[data-request-id="${gap}"]`);
    expect(await bar.locator(".seg.gap").isVisible()).to.equal(true);
    expect(await bar.locator(".seg.edge").isVisible()).to.equal(true);
    const deadline = new Date(Number(await sibyl.precompile.settlementDeadline(gap)) * 1000)
      .toISOString()
      .replace(".000Z", "Z");
    const marker = (await bar.locator(".mark:not(.window)").isVisible())
      ? bar.locator(".mark:not(.window)")
      : bar.locator(".later");
    expect(await marker.isVisible()).to.equal(true);
    expect(await marker.getAttribute("title")).to.contain(`settlement deadline ${deadline}`);

    mkdirSync(join(PROJECT_ROOT, "test-artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).to.equal(true);
  });

  it("says when the chain's endpoint is unreachable, and keeps showing the last state", async function () {
    const { provider, cut } = breakableProvider(connection);
    const flaky = await startDashboard({
      precompile: sibyl.precompile.connect(provider),
      fromBlock: 0,
      pollMs: 100,
      port: 0,
    });
    try {
      const tab = await context.newPage();
      await tab.goto(flaky.url);
      await tab.waitForSelector('#status[data-status="live"]');
      const bars = await tab.locator(".bar").count();
      expect(bars).to.equal(requests.length);

      cut(true);
      await tab.waitForSelector('#status[data-status="rpc-down"]');
      expect(await tab.locator("#banner").innerText()).to.contain("RPC unreachable");
      expect(await tab.locator(".bar").count()).to.equal(bars);

      cut(false);
      await tab.waitForSelector('#status[data-status="live"]');
      expect(await tab.locator("#banner").isVisible()).to.equal(false);
      await tab.close();
    } finally {
      await flaky.close();
    }
    expect(pageErrors).to.deep.equal([]);
    await ethers.provider.getBlockNumber(); // the chain itself was never down
  });
});
