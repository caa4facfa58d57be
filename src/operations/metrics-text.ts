/**
 * Reading samples out of a Prometheus text exposition (what every apiserver's /metrics serves). Only
 * the sample lines of the few series the operation needs are read — name, labels, value — so a small
 * parser does; label values are unescaped as the format defines (\\, \", \n).
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === " " || text[i] === ",") i++;
    if (i >= text.length) break;
    const eq = text.indexOf("=", i);
    if (eq < 0 || text[eq + 1] !== '"') return undefined;
    const name = text.slice(i, eq).trim();
    let value = "";
    let j = eq + 2;
    for (; j < text.length; j++) {
      const c = text[j];
      if (c === "\\") {
        const n = text[++j];
        value += n === "n" ? "\n" : (n ?? "");
      } else if (c === '"') break;
      else value += c;
    }
    if (j >= text.length) return undefined;
    labels[name] = value;
    i = j + 1;
  }
  return labels;
}

/** The samples of the metric `name` (without _bucket/_sum suffix games: exact name match). */
export function samplesOf(body: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of body.split("\n")) {
    const line = raw.trim();
    if (!line.startsWith(name) || line.startsWith("#")) continue;
    const rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    let valueText: string;
    if (rest.startsWith("{")) {
      const close = rest.lastIndexOf("}");
      if (close < 0) continue;
      const parsed = parseLabels(rest.slice(1, close));
      if (parsed === undefined) continue;
      labels = parsed;
      valueText = rest.slice(close + 1).trim();
    } else if (rest.startsWith(" ")) {
      valueText = rest.trim();
    } else continue; // another metric whose name starts with this one
    const value = Number(valueText.split(/\s+/)[0]);
    if (!Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}
