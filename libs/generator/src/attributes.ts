// Attribute values as label values.

import type { AnyValue } from '@stave/proto';
import { formatFloat } from './registry/metric';

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
