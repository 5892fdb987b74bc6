// Checks a message's params against its schema in protocol.ts (the one place the protocol is
// declared). The problem is said in the client's terms: the field's path in the params, what it must
// be, and what it was.
import type { Schema } from '../protocol';

/** The first problem with `value`, or null when it fits `schema`. `path` names it ("params", "ranges[3].start"). */
export function checkParams(schema: Schema, value: unknown, path = 'params'): string | null {
  if (value === null || value === undefined) {
    if (schema.nullable === true || schema.type === 'any') return null;
    return `${path} is required`;
  }
  switch (schema.type) {
    case 'any':
      return null;
    case 'string':
      if (typeof value !== 'string') return `${path} must be a string, got ${show(value)}`;
      if (schema.enum !== undefined && !schema.enum.includes(value)) return `${path} must be one of ${schema.enum.join(', ')}, got ${show(value)}`;
      return null;
    case 'boolean':
      return typeof value === 'boolean' ? null : `${path} must be true or false, got ${show(value)}`;
    case 'integer':
    case 'number': {
      const ok =
        typeof value === 'number' &&
        Number.isFinite(value) &&
        value >= schema.minimum &&
        value <= schema.maximum &&
        (schema.type === 'number' || Number.isInteger(value));
      return ok ? null : `${path} must be ${schema.type === 'integer' ? 'an integer' : 'a number'} in [${schema.minimum}, ${schema.maximum}], got ${show(value)}`;
    }
    case 'array': {
      if (!Array.isArray(value)) return `${path} must be an array, got ${show(value)}`;
      if (value.length > schema.maxItems) return `${path} has ${value.length} items, at most ${schema.maxItems} are allowed`;
      for (let i = 0; i < value.length; i++) {
        const problem = checkParams(schema.items, value[i], `${path}[${i}]`);
        if (problem !== null) return problem;
      }
      return null;
    }
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return `${path} must be an object, got ${show(value)}`;
      const obj = value as Record<string, unknown>;
      for (const [key, field] of Object.entries(schema.properties)) {
        const v = obj[key];
        if (v === undefined && field.optional === true) continue;
        const problem = checkParams(field, v, `${path}.${key}`);
        if (problem !== null) return problem;
      }
      if (schema.values !== undefined) {
        for (const [key, v] of Object.entries(obj)) {
          if (key in schema.properties) continue;
          const problem = checkParams(schema.values, v, `${path}[${JSON.stringify(key)}]`);
          if (problem !== null) return problem;
        }
      }
      return null;
    }
    case 'anyOf': {
      const problems = schema.anyOf.map((s) => checkParams(s, value, path));
      return problems.includes(null) ? null : problems.join('; or ');
    }
  }
}

/** A value for an error message: short, whatever was sent. */
function show(value: unknown): string {
  const text = Array.isArray(value) ? 'an array' : typeof value === 'object' && value !== null ? 'an object' : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
