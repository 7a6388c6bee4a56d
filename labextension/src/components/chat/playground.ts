// The playground's request extras: tool definitions (validated as OpenAI tool objects), tool_choice,
// JSON mode (response_format), and the `openai` client code that repeats a request.
import type {
  ChatMessage,
  ChatRequestExtras,
  ResponseFormat,
  SamplingOptions,
  ToolChoice,
  ToolDefinition
} from '../../api/types';

/** The Tools & JSON form as typed (text boxes keep what the user wrote, valid or not). */
export interface PlaygroundForm {
  /** A JSON array of tool objects; '' for none. */
  tools: string;
  /** 'auto' | 'none' | 'required' | 'function:<name>' */
  toolChoice: string;
  jsonMode: 'off' | 'json_object' | 'json_schema';
  schemaName: string;
  /** A JSON Schema (JSON text) for json_schema mode. */
  schema: string;
}

export const DEFAULT_PLAYGROUND: PlaygroundForm = {
  tools: '',
  toolChoice: 'auto',
  jsonMode: 'off',
  schemaName: 'answer',
  schema: ''
};

/** Ready-made tools to insert into the editor. */
export const TOOL_EXAMPLES: Record<string, ToolDefinition> = {
  get_weather: {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Get the current weather in a city',
      parameters: {
        type: 'object',
        properties: {
          city: { type: 'string', description: 'City name, e.g. Paris' },
          unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }
        },
        required: ['city']
      }
    }
  },
  calculator: {
    type: 'function',
    function: {
      name: 'calculator',
      description: 'Evaluate an arithmetic expression',
      parameters: {
        type: 'object',
        properties: { expression: { type: 'string', description: 'e.g. 2 * (3 + 4)' } },
        required: ['expression']
      }
    }
  }
};

export const SCHEMA_EXAMPLE = {
  type: 'object',
  properties: { answer: { type: 'string' }, confidence: { type: 'number' } },
  required: ['answer', 'confidence'],
  additionalProperties: false
};

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parsed tools, or the first problem (naming the field, e.g. `tools[1].function.name`). */
export function parseTools(text: string): { tools: ToolDefinition[]; error: string | null } {
  if (!text.trim()) {
    return { tools: [], error: null };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { tools: [], error: `Tools are not valid JSON: ${(err as Error).message}` };
  }
  if (isObject(value)) {
    value = [value]; // one tool object on its own
  }
  if (!Array.isArray(value)) {
    return { tools: [], error: 'Tools must be a JSON array of tool objects' };
  }
  const seen = new Set<string>();
  for (let i = 0; i < value.length; i++) {
    const t = value[i];
    const at = `tools[${i}]`;
    if (!isObject(t)) {
      return { tools: [], error: `${at} must be an object {type: "function", function: {...}}` };
    }
    if (t.type !== 'function') {
      return { tools: [], error: `${at}.type must be "function"` };
    }
    const fn = t.function;
    if (!isObject(fn)) {
      return {
        tools: [],
        error: `${at}.function must be an object {name, description?, parameters?}`
      };
    }
    if (typeof fn.name !== 'string' || !NAME.test(fn.name)) {
      return {
        tools: [],
        error: `${at}.function.name must be 1 to 64 letters, digits, '_' or '-'`
      };
    }
    if (seen.has(fn.name)) {
      return { tools: [], error: `${at}.function.name repeats "${fn.name}"` };
    }
    seen.add(fn.name);
    if (fn.description !== undefined && typeof fn.description !== 'string') {
      return { tools: [], error: `${at}.function.description must be text` };
    }
    if (
      fn.parameters !== undefined &&
      (!isObject(fn.parameters) || fn.parameters.type !== 'object')
    ) {
      return {
        tools: [],
        error: `${at}.function.parameters must be a JSON Schema object ({"type": "object", ...})`
      };
    }
    if (fn.strict !== undefined && typeof fn.strict !== 'boolean') {
      return { tools: [], error: `${at}.function.strict must be true or false` };
    }
  }
  return { tools: value as ToolDefinition[], error: null };
}

/** The schema box parsed, or its problem. */
export function parseSchema(text: string): {
  schema: Record<string, unknown> | null;
  error: string | null;
} {
  if (!text.trim()) {
    return { schema: null, error: 'Give a JSON Schema for json_schema mode' };
  }
  try {
    const schema = JSON.parse(text);
    if (!isObject(schema)) {
      return { schema: null, error: 'The schema must be a JSON object' };
    }
    return { schema, error: null };
  } catch (err) {
    return { schema: null, error: `The schema is not valid JSON: ${(err as Error).message}` };
  }
}

/** The request's tools, tool_choice and response_format, or the first problem of the form. */
export function extrasOf(form: PlaygroundForm): {
  extras: ChatRequestExtras;
  error: string | null;
} {
  const extras: ChatRequestExtras = {};
  const { tools, error } = parseTools(form.tools);
  if (error) {
    return { extras, error };
  }
  if (tools.length) {
    extras.tools = tools;
    let choice: ToolChoice = 'auto';
    if (form.toolChoice.startsWith('function:')) {
      const name = form.toolChoice.slice('function:'.length);
      if (!tools.some(t => t.function.name === name)) {
        return { extras, error: `tool_choice names "${name}", which is not among the tools` };
      }
      choice = { type: 'function', function: { name } };
    } else if (['auto', 'none', 'required'].includes(form.toolChoice)) {
      choice = form.toolChoice as ToolChoice;
    }
    extras.tool_choice = choice;
  }
  if (form.jsonMode === 'json_object') {
    extras.response_format = { type: 'json_object' };
  } else if (form.jsonMode === 'json_schema') {
    const { schema, error: schemaError } = parseSchema(form.schema);
    if (schemaError || !schema) {
      return { extras, error: schemaError };
    }
    const name = form.schemaName.trim() || 'answer';
    if (!NAME.test(name)) {
      return { extras, error: "The schema's name must be 1 to 64 letters, digits, '_' or '-'" };
    }
    const format: ResponseFormat = {
      type: 'json_schema',
      json_schema: { name, schema, strict: true }
    };
    extras.response_format = format;
  }
  return { extras, error: null };
}

/** A Python literal of a JSON value (strings through JSON's escapes, which Python reads alike). */
export function pyLiteral(value: unknown, indent = 0): string {
  const pad = ' '.repeat(indent + 4);
  const end = ' '.repeat(indent);
  if (value === null || value === undefined) {
    return 'None';
  }
  if (value === true) {
    return 'True';
  }
  if (value === false) {
    return 'False';
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? String(value) : 'None';
  }
  if (typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    if (!value.length) {
      return '[]';
    }
    return `[\n${value.map(v => pad + pyLiteral(v, indent + 4)).join(',\n')},\n${end}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(
    ([, v]) => v !== undefined
  );
  if (!entries.length) {
    return '{}';
  }
  const body = entries
    .map(([k, v]) => `${pad}${JSON.stringify(k)}: ${pyLiteral(v, indent + 4)}`)
    .join(',\n');
  return `{\n${body},\n${end}}`;
}

/** Sampling fields the `openai` client takes as keywords; the rest go in `extra_body`. */
const OPENAI_KEYWORDS = ['temperature', 'top_p', 'max_tokens', 'seed', 'stop'];

/**
 * The `openai` Python client call that repeats a request to `<baseUrl>` (the server's
 * `/model-studio/v1`); the Jupyter token is the API key (read from JUPYTER_TOKEN when set).
 */
export function openaiCode(
  baseUrl: string,
  model: string,
  messages: ChatMessage[],
  sampling: SamplingOptions,
  extras: ChatRequestExtras
): string {
  const args: [string, unknown][] = [
    ['model', model],
    ['messages', messages]
  ];
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(sampling)) {
    if (value === null || value === undefined) {
      continue;
    }
    if (OPENAI_KEYWORDS.includes(key)) {
      args.push([key, value]);
    } else {
      extra[key] = value;
    }
  }
  for (const key of ['tools', 'tool_choice', 'response_format'] as const) {
    if (extras[key] !== undefined) {
      args.push([key, extras[key]]);
    }
  }
  if (Object.keys(extra).length) {
    args.push(['extra_body', extra]);
  }
  const lines = [
    'import os',
    '',
    'from openai import OpenAI',
    '',
    'client = OpenAI(',
    `    base_url=${JSON.stringify(baseUrl.replace(/\/+$/, ''))},`,
    '    api_key=os.environ.get("JUPYTER_TOKEN", "<your Jupyter token>"),',
    ')',
    'response = client.chat.completions.create(',
    ...args.map(([k, v]) => `    ${k}=${pyLiteral(v, 4)},`),
    ')',
    'message = response.choices[0].message',
    'print(message.tool_calls or message.content)',
    ''
  ];
  return lines.join('\n');
}
