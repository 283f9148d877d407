// Span and resource attributes as the processors read them.

import type { AnyValue, KeyValue } from '@stave/proto';
import { formatFloat } from './registry/metric';
import { LazyAttributes } from './spans';

/** Attributes decoded, or still encoded (a forwarded span's and its resource's). */
export type AttributeList = readonly KeyValue[] | LazyAttributes;

/**
 * Tempo's StringifyAnyValue: how an attribute value becomes a label value. Doubles print like Go's
 * FormatFloat(v, 'f', -1, 64); arrays and maps concatenate their items without separators, as Tempo's do.
 */
export function stringifyAnyValue(v: AnyValue | undefined): string {
  const val = v?.value;
  switch (val?.case) {
    case 'stringValue':
      return val.value;
    case 'boolValue':
      return val.value ? 'true' : 'false';
    case 'intValue':
      return val.value.toString();
    case 'doubleValue':
      return formatFloat(val.value);
    case 'arrayValue':
      return `[${val.value.values.map(stringifyAnyValue).join('')}]`;
    case 'kvlistValue':
      return `{${val.value.values.map((kv) => `${kv.key}:${stringifyAnyValue(kv.value)}`).join('')}}`;
    default:
      return '';
  }
}

/** The first attribute named `key` in the lists, in list order (Tempo's FindAttributeValue). */
export function findAttribute(key: string, ...lists: readonly AttributeList[]): string | undefined {
  for (const list of lists) {
    if (list instanceof LazyAttributes) {
      const v = list.findString(key);
      if (v !== undefined) return v;
    } else for (const kv of list) if (kv.key === key) return stringifyAnyValue(kv.value);
  }
  return undefined;
}

/** Tempo's span multiplier: with `span_multiplier_key` set, 1 / the span's double attribute of that name (when > 0). */
export function spanMultiplier(key: string, attributes: AttributeList): number {
  if (key === '') return 1;
  let m = 1;
  for (const kv of attributes instanceof LazyAttributes ? attributes.all() : attributes) {
    if (kv.key !== key) continue;
    const v = kv.value?.value;
    if (v?.case === 'doubleValue' && v.value > 0) m = 1 / v.value;
  }
  return m;
}
