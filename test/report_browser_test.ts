/**
 * The HTML report (`deno task report`, src/report/page.ts) in a real
 * browser: Debian's headless chromium loads the page a run wrote, and the
 * test checks through the DevTools protocol that every figure decoded, that
 * each curve has one point per metrics line of its field, that nothing was
 * fetched and that the console shows no error; then that a broken figure is
 * caught. Skipped, saying so, where chromium is not installed.
 */
import assert from "node:assert/strict";
import { readMetrics } from "../src/cli/run.ts";
import { CHROMIUM, type LoadedPage, withPage } from "./browser.ts";
import { runCli, train } from "./commands.ts";

const skip = CHROMIUM ? "" : " (skipped: no chromium; apt-get install chromium)";

/** What the page says about itself: its figures, its curves, what it fetched. */
interface PageFacts {
  images: { alt: string; ok: boolean }[];
  curves: { metric: string; series: string; declared: number; drawn: number }[];
  fetched: string[];
  links: { href: string; target: boolean }[];
}

async function facts(page: LoadedPage): Promise<PageFacts> {
  // An image counts as loaded when it decodes and its last pixel is opaque: our figures are
  // opaque RGB, and a truncated PNG decodes with a size but leaves its bottom rows transparent.
  return await page.evaluate<PageFacts>(`(async () => ({
    images: await Promise.all([...document.images].map(async (i) => {
      const decoded = await i.decode().then(() => i.naturalWidth > 0, () => false);
      if (!decoded) return { alt: i.alt, ok: false };
      const c = document.createElement("canvas");
      [c.width, c.height] = [i.naturalWidth, i.naturalHeight];
      const g = c.getContext("2d");
      g.drawImage(i, 0, 0);
      return { alt: i.alt, ok: g.getImageData(c.width - 1, c.height - 1, 1, 1).data[3] === 255 };
    })),
    curves: [...document.querySelectorAll("polyline.series")].map((p) => ({
      metric: p.dataset.metric, series: p.dataset.series,
      declared: Number(p.dataset.points), drawn: p.points.numberOfItems,
    })),
    fetched: performance.getEntriesByType("resource").map((e) => e.name),
    links: [...document.querySelectorAll("a[href^='#']")].map((a) => ({
      href: a.getAttribute("href"), target: document.getElementById(a.getAttribute("href").slice(1)) !== null,
    })),
  }))()`);
}

/** The metrics lines of a run that carry a finite `metric`. */
function lines(run: string, metric: string): number {
  return readMetrics(`${run}/metrics.jsonl`).filter((r) =>
    typeof r[metric] === "number" && Number.isFinite(r[metric])
  ).length;
}

Deno.test({
  name: `report: chromium renders a run's page with every figure and every point${skip}`,
  ignore: !CHROMIUM,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const run = `${dir}/circles`;
    // The paper's method on two circles: test error, losses, learning rates and G's diagnostics.
    const r = await train("--iterations", "300", "--eval-interval", "50", "--out", run);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /report .*report\.html/);
    const pngs = [...Deno.readDirSync(run)].filter((e) => e.name.endsWith(".png")).map((e) =>
      e.name
    ).sort();
    assert.deepEqual(pngs, ["boundary.png", "test_error.png"]);
    await withPage(`file://${run}/report.html`, async (page) => {
      const f = await facts(page);
      assert.deepEqual(page.errors, []);
      assert.deepEqual(f.fetched, [], "the page fetched something: it must be self-contained");
      assert.deepEqual(f.images.map((i) => i.alt).sort(), pngs);
      assert(f.images.every((i) => i.ok), `figures that did not load: ${JSON.stringify(f.images)}`);
      const metrics = new Set(f.curves.map((c) => c.metric));
      for (const m of ["test_error", "nll", "adv", "g_flip", "g_kl", "g_l2", "lr_classifier"]) {
        assert(metrics.has(m), `no curve of ${m}`);
      }
      for (const c of f.curves) {
        assert.equal(c.drawn, c.declared, `${c.metric}: drawn points`);
        assert.equal(c.drawn, lines(run, c.metric), `${c.metric}: one point per metrics line`);
      }
      const png = await page.screenshot();
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
      assert(
        png.length > 10_000,
        `a screenshot of ${png.length} bytes is too small to show anything`,
      );
    });

    // A figure cut short, and one that is not a PNG at all: the same check sees both.
    const boundary = Deno.readFileSync(`${run}/boundary.png`);
    Deno.writeFileSync(`${run}/boundary.png`, boundary.slice(0, boundary.length >> 1));
    Deno.writeTextFileSync(`${run}/test_error.png`, "not a PNG");
    const again = await runCli("report.ts", run);
    assert.equal(again.code, 0, again.err);
    await withPage(`file://${run}/report.html`, async (page) => {
      const broken = (await facts(page)).images.filter((i) => !i.ok).map((i) => i.alt);
      assert.deepEqual(broken.sort(), ["boundary.png", "test_error.png"]);
    });
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: `report: several runs overlaid, and a reproduce table whose cells link to its runs${skip}`,
  ignore: !CHROMIUM,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const table = `${dir}/table`;
    const r = await runCli(
      "reproduce.ts",
      "circles",
      "--seeds",
      "1",
      "--iterations-scale",
      "0.02",
      "--out",
      table,
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^1\/\d+ runs: .*test error [\d.]+% \(.* so far, about .* left\)$/m);
    assert.match(r.out, /report: .*table\/report\.html/);
    await withPage(`file://${table}/report.html`, async (page) => {
      const f = await facts(page);
      assert.deepEqual(page.errors, []);
      assert(f.images.every((i) => i.ok));
      assert(f.images.some((i) => i.alt === "circles.png"), "the table's figure");
      const cellLinks = f.links.filter((l) => /^#run-\d+-\d+-\d+$/.test(l.href));
      assert(cellLinks.length > 0, "the table's cells link to their runs");
      assert(f.links.every((l) => l.target), `links to nothing: ${JSON.stringify(f.links)}`);
    });
    // Two runs named on the command line: one curve of each per chart.
    const [a, b] = [`${table}/0-0-1`, `${table}/1-0-1`];
    const out = `${dir}/two.html`;
    assert.equal((await runCli("report.ts", a, b, "--out", out)).code, 0);
    await withPage(`file://${out}`, async (page) => {
      const curves = (await facts(page)).curves.filter((c) => c.metric === "test_error");
      assert.deepEqual(curves.map((c) => c.series), ["0-0-1", "1-0-1"]);
      assert.deepEqual(curves.map((c) => c.drawn), [
        lines(a, "test_error"),
        lines(b, "test_error"),
      ]);
    });
    const none = await runCli("report.ts", a, b);
    assert.notEqual(none.code, 0);
    assert.match(
      none.err,
      /^error: Cannot write the report of 2 runs: give the page's --out FILE\n$/,
    );
    // --markdown: the same runs' numbers as tables, one curve row per evaluation.
    const md = await runCli("report.ts", a, b, "--markdown");
    assert.equal(md.code, 0, md.err);
    assert.match(md.out, /^\| 0-0-1 \| [\d.]+ @ \d+ \| [\d.]+ @ \d+ \| /m);
    const curveRows = md.out.split("\n").filter((l) => /^\| \d+ \|/.test(l));
    assert.equal(curveRows.length, Math.max(lines(a, "test_error"), lines(b, "test_error")));
    const both = await runCli("report.ts", a, "--markdown", "--out", out);
    assert.match(both.err, /^error: Cannot use --out with --markdown/);
    await Deno.remove(dir, { recursive: true });
  },
});
