// Label sets of the registry's series, and the label hygiene Tempo applies to them.

/**
 * Prometheus' SanitizeLabelName (util/strutil), which Tempo applies to configured dimensions: every
 * character outside [a-zA-Z0-9_] becomes `_`. Like Prometheus', it does not fix a leading digit: the
 * callers' names follow a known-valid prefix or are checked by whoever configured them.
 */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** A series' own labels (without `__name__` and external labels), with the key that identifies it. */
export interface LabelSet {
  readonly names: readonly string[];
  readonly values: readonly string[];
  /** names and values joined: equal keys, equal series. */
  readonly key: string;
}

const SEP = '\xff';

/**
 * Builds a label set, truncating names and values to the registry's max_label_name_length and
 * max_label_value_length (as Tempo does: the first N UTF-16 units here, bytes there; equal for ASCII).
 */
export function labelSet(names: readonly string[], values: readonly string[], maxNameLength: number, maxValueLength: number): LabelSet {
  if (names.length !== values.length) throw new Error(`labels (${names.length}) and values (${values.length}) differ in length`);
  // The hot path (a label set per span): the names are the processor's fixed list, joined once.
  let n = names;
  let namesKey = joinedNames.get(names);
  if (namesKey === undefined) {
    n = names.map((x) => (x.length > maxNameLength ? x.slice(0, maxNameLength) : x));
    namesKey = n.join(SEP);
    if (n.every((x, i) => x === names[i])) joinedNames.set(names, namesKey);
  }
  const v = values.some((x) => x.length > maxValueLength) ? values.map((x) => (x.length > maxValueLength ? x.slice(0, maxValueLength) : x)) : values;
  return { names: n, values: v, key: namesKey + SEP + SEP + v.join(SEP) };
}

/** Each label-name list's joined key (lists whose names needed no truncation). */
const joinedNames = new WeakMap<readonly string[], string>();

/**
 * The full, sorted label list of one series: external labels, then the series' own labels over them (a
 * series label wins over an external label of the same name), then `__name__` and any extra labels (le).
 */
export function seriesLabels(
  name: string,
  set: LabelSet,
  external: ReadonlyMap<string, string>,
  extra?: readonly [string, string],
): Array<readonly [string, string]> {
  const m = new Map(external);
  for (let i = 0; i < set.names.length; i++) m.set(set.names[i]!, set.values[i]!);
  m.set('__name__', name);
  if (extra) m.set(extra[0], extra[1]);
  return [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
