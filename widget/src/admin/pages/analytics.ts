// Analytics: the team's figures for a date range in the viewer's time zone, by day or week,
// with charts (uPlot, bundled into this page only), a table beside each chart with the same
// figures for screen readers and keyboards, tables per staff member and site, and a CSV link.
import "./analytics.css";
import uPlot from "uplot";
import { h, say } from "../../shared/dom";
import { shell } from "../shell";

interface Figures {
  conversations: number;
  answered: number;
  abandoned: number;
  abandonment_pct: number | null;
  service_level_pct: number | null;
  wait_p50_s: number | null;
  wait_p90_s: number | null;
  wait_avg_s: number | null;
  missed_rings: number;
  handle_avg_s: number | null;
  transfers: number;
  ratings: number;
  csat_pct: number | null;
}
interface Period extends Figures {
  period: string;
}
interface Named extends Figures {
  id: number | null;
  name: string;
}
interface Report {
  range: { from: string; to: string; tz: string; group: "day" | "week"; sla_s: number; site: number | null };
  summary: Figures;
  series: Period[];
  sites: Named[];
  agents: Named[];
  by_hour: Record<string, number[]>;
  tags: { tag: string; conversations: number }[];
}

const CHANNELS: Record<string, string> = { chat: "Chat", voice: "Voice", video: "Video", oneway: "See them only" };
// Distinguishable for the common colour-vision deficiencies (Okabe–Ito).
const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00"];

const dash = "–";
const num = (n: number | null, unit = ""): string => (n == null ? dash : `${n.toLocaleString()}${unit}`);
const secs = (n: number | null): string =>
  n == null ? dash : n < 120 ? `${Math.round(n)} s` : `${(n / 60).toFixed(1)} min`;

function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function todayIn(tz: string): string {
  // en-CA formats a date as YYYY-MM-DD.
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz }).format(new Date());
}

function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hint ? h("span", { class: "hint" }, hint) : null);
}

void shell().then(({ main, api }) => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const to = h("input", { type: "date", id: "an-to", required: true, value: todayIn(zone) });
  const start = new Date(`${to.value}T00:00:00Z`);
  start.setUTCDate(start.getUTCDate() - 29);
  const from = h("input", { type: "date", id: "an-from", required: true, value: isoDate(start) });
  const group = h("select", { id: "an-group" }, h("option", { value: "day" }, "Day"), h("option", { value: "week" }, "Week"));
  const tz = h("select", { id: "an-tz" });
  const zones = (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.("timeZone") ?? [];
  for (const name of zones.includes(zone) ? zones : [zone, ...zones]) tz.append(h("option", { value: name }, name.replace(/_/g, " ")));
  if (!zones.includes("UTC")) tz.append(h("option", { value: "UTC" }, "UTC"));
  tz.value = zone;
  const sla = h("input", { type: "number", id: "an-sla", min: 1, max: 3600, value: 30, inputmode: "numeric" });
  const site = h("select", { id: "an-site" }, h("option", { value: "" }, "All sites"));
  const csv = h("a", { class: "button", href: "#", download: "" }, "Download CSV");
  const status = h("p", { class: "hint", role: "status", "aria-live": "polite" });
  const problem = h("p", { class: "problem", role: "alert" });
  const form = h(
    "form",
    { class: "card filters", "aria-label": "Range and grouping" },
    h(
      "div",
      { class: "filter-row" },
      field("From", from),
      field("To", to),
      field("Group by", group),
      field("Time zone", tz),
      field("Service level within (s)", sla),
      field("Site", site),
    ),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Show"), csv, status),
    problem,
  );
  const results = h("div", { class: "results" });
  main.append(form, results);

  const params = (): URLSearchParams => {
    const p = new URLSearchParams({ from: from.value, to: to.value, tz: tz.value, group: group.value, sla: sla.value || "30" });
    if (site.value) p.set("site", site.value);
    return p;
  };
  const load = async (): Promise<void> => {
    say(problem, "");
    say(status, "Loading…");
    const p = params();
    csv.href = `/api/v1/analytics.csv?${p}`;
    try {
      const report = await api.get<Report>(`/api/v1/analytics?${p}`);
      if (!site.value) updateSites(site, report.sites);
      render(results, report);
      say(status, `Showing ${report.range.from} to ${report.range.to} (${report.range.tz}).`);
    } catch (error) {
      say(status, "");
      say(problem, (error as Error).message);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void load();
  });
  void load();
});

function updateSites(select: HTMLSelectElement, sites: Named[]): void {
  const known = new Set([...select.options].map((o) => o.value));
  for (const s of sites) if (s.id != null && !known.has(String(s.id))) select.append(h("option", { value: s.id }, s.name));
}

const charts: uPlot[] = [];

function render(into: HTMLElement, report: Report): void {
  for (const chart of charts.splice(0)) chart.destroy();
  const s = report.summary;
  const periodWord = report.range.group === "week" ? "Week of" : "Day";
  const labels = report.series.map((p) => p.period);
  const xs = labels.map((_, i) => i);
  into.replaceChildren(
    h(
      "section",
      { class: "tiles", "aria-label": "Summary" },
      tile("Conversations", num(s.conversations), `${num(s.answered)} answered`),
      tile(`Service level (< ${report.range.sla_s} s)`, num(s.service_level_pct, " %"), "of answered and abandoned"),
      tile("Wait, median", secs(s.wait_p50_s), `90th percentile ${secs(s.wait_p90_s)}`),
      tile("Abandoned", num(s.abandonment_pct, " %"), `${num(s.abandoned)} left before an answer`),
      tile("Missed rings", num(s.missed_rings), "rings nobody answered in time"),
      tile("Handling time", secs(s.handle_avg_s), "average, answer to end"),
      tile("Transfers", num(s.transfers), "to a colleague"),
      tile("CSAT", num(s.csat_pct, " %"), `${num(s.ratings)} ratings, 4 or 5 of 5`),
    ),
    chartCard(
      "Conversations",
      [xs, report.series.map((p) => p.answered), report.series.map((p) => p.abandoned)],
      ["Answered", "Abandoned"],
      labels,
      "bars",
      [periodWord, "Conversations", "Answered", "Abandoned", "Missed rings"],
      report.series.map((p) => [p.period, num(p.conversations), num(p.answered), num(p.abandoned), num(p.missed_rings)]),
    ),
    chartCard(
      "Wait for an answer (seconds)",
      [xs, report.series.map((p) => p.wait_p50_s), report.series.map((p) => p.wait_p90_s)],
      ["Median", "90th percentile"],
      labels,
      "lines",
      [periodWord, "Median", "90th percentile", "Service level", "Handling", "CSAT"],
      report.series.map((p) => [p.period, secs(p.wait_p50_s), secs(p.wait_p90_s), num(p.service_level_pct, " %"), secs(p.handle_avg_s), num(p.csat_pct, " %")]),
    ),
    hourCard(report),
    peopleCard("By staff member", "Staff member", report.agents),
    peopleCard("By site", "Site", report.sites),
    tagsCard(report),
  );
}

function tile(label: string, value: string, note: string): HTMLElement {
  return h("div", { class: "tile" }, h("span", { class: "label" }, label), h("strong", {}, value), h("span", { class: "hint" }, note));
}

let chartCount = 0;

// Whole numbers on count axes (never "0.5 conversations").
const WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];

function chartCard(
  title: string,
  data: (number | null)[][],
  names: string[],
  labels: string[],
  kind: "bars" | "lines",
  head: string[],
  rows: string[][],
): HTMLElement {
  const id = `chart-${++chartCount}`;
  const plot = h("div", { class: "plot", "aria-hidden": "true" });
  const card = h(
    "section",
    { class: "card", "aria-labelledby": id },
    h("h2", { id }, title),
    plot,
    table(`${title}: the figures`, head, rows),
  );
  const label = (i: number): string => (Number.isInteger(i) ? (labels[i] ?? "") : "");
  const opts: uPlot.Options = {
    width: 600,
    height: 220,
    // Half a slot either side, so that the first and last bars are whole.
    scales: { x: { time: false, range: () => [-0.5, Math.max(0.5, labels.length - 0.5)] } },
    axes: [
      { values: (_u, splits) => splits.map((i) => label(i).slice(5)), incrs: [1, 2, 7, 14, 28, 56] },
      { size: 52, incrs: kind === "bars" ? WHOLE : undefined },
    ],
    series: [
      { label: head[0], value: (_u, i) => (i == null ? dash : label(i)) },
      ...names.map((name, i) => ({
        label: name,
        stroke: COLOURS[i],
        fill: kind === "bars" ? `${COLOURS[i]}cc` : undefined,
        width: 2,
        // Bars side by side: the first ends at its period's centre, the second starts there.
        paths: kind === "bars" ? uPlot.paths.bars?.({ size: [0.4, 32], gap: 0, align: i === 0 ? -1 : 1 }) : undefined,
        points: { show: kind === "lines" && labels.length < 40 },
      })),
    ],
  };
  mount(plot, opts, data as uPlot.AlignedData);
  return card;
}

function hourCard(report: Report): HTMLElement {
  const counts = (c: string): number[] => report.by_hour[c] ?? [];
  const channels = Object.keys(report.by_hour).filter((c) => counts(c).some((n) => n > 0));
  const hours = [...Array(24).keys()];
  const clock = (hour: number): string => `${String(hour).padStart(2, "0")}:00`;
  const rows = hours.map((hour) => [clock(hour), ...channels.map((c) => num(counts(c)[hour] ?? 0))]);
  const plot = h("div", { class: "plot", "aria-hidden": "true" });
  const card = h(
    "section",
    { class: "card", "aria-labelledby": "chart-hours" },
    h("h2", { id: "chart-hours" }, `Conversations by hour of the day (${report.range.tz.replace(/_/g, " ")})`),
    plot,
    table("Conversations by hour and channel", ["Hour", ...channels.map((c) => CHANNELS[c] ?? c)], rows),
  );
  // Stacked bars: each channel's bar reaches the sum of the channels before it and its own,
  // drawn tallest first so that every segment shows; the legend reads the channel's own count.
  const totals = channels.map((_, j) => hours.map((hour) => channels.slice(0, j + 1).reduce((n, c) => n + (counts(c)[hour] ?? 0), 0)));
  const order = channels.map((_, j) => channels.length - 1 - j);
  mount(
    plot,
    {
      width: 600,
      height: 220,
      scales: { x: { time: false, range: [-0.5, 23.5] } },
      axes: [
        { values: (_u, splits) => splits.map((i) => (Number.isInteger(i) ? `${i}h` : "")), incrs: [1, 2, 3, 6] },
        { size: 52, incrs: WHOLE },
      ],
      series: [
        { label: "Hour", value: (_u, i) => (i == null ? dash : clock(i)) },
        ...order.map((j) => ({
          label: CHANNELS[channels[j] ?? ""] ?? channels[j],
          stroke: COLOURS[j],
          fill: COLOURS[j],
          paths: uPlot.paths.bars?.({ size: [0.7, 24], gap: 0 }),
          points: { show: false },
          value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) =>
            idx == null ? dash : num(counts(channels[j] ?? "")[idx] ?? 0),
        })),
      ],
    },
    [hours, ...order.map((j) => totals[j] ?? [])] as uPlot.AlignedData,
  );
  return card;
}

function mount(plot: HTMLElement, opts: uPlot.Options, data: uPlot.AlignedData): void {
  const chart = new uPlot(opts, data, plot);
  charts.push(chart);
  const fit = (): void => chart.setSize({ width: Math.max(240, plot.clientWidth), height: 220 });
  new ResizeObserver(fit).observe(plot);
  requestAnimationFrame(fit);
}

function peopleCard(title: string, who: string, rows: Named[]): HTMLElement {
  const head = [who, "Conversations", "Answered", "Wait median", "Wait p90", "Missed rings", "Handling", "Transfers", "CSAT"];
  const body = rows.map((r) => [
    r.name || `#${r.id}`,
    num(r.conversations),
    num(r.answered),
    secs(r.wait_p50_s),
    secs(r.wait_p90_s),
    num(r.missed_rings),
    secs(r.handle_avg_s),
    num(r.transfers),
    r.ratings ? `${num(r.csat_pct, " %")} (${r.ratings})` : dash,
  ]);
  return h("section", { class: "card" }, h("h2", {}, title), rows.length ? table(title, head, body) : h("p", { class: "hint" }, "Nothing in this range."));
}

function tagsCard(report: Report): HTMLElement {
  const body = report.tags.map((t) => [t.tag, num(t.conversations)]);
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Outcome tags"),
    body.length ? table("Outcome tags", ["Tag", "Conversations"], body) : h("p", { class: "hint" }, "No tagged conversations in this range."),
  );
}

function table(caption: string, head: string[], rows: string[][]): HTMLElement {
  return h(
    "div",
    { class: "scroll-x", tabindex: 0, role: "region", "aria-label": caption },
    h(
      "table",
      { class: "list figures" },
      h("caption", { class: "sr" }, caption),
      h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c, i) => (i === 0 ? h("th", { scope: "row", dir: "auto" }, c) : h("td", {}, c)))))),
    ),
  );
}
