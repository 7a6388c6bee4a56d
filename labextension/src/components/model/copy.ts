/**
 * Copy text to the clipboard: `navigator.clipboard` where the page may use it (a secure context),
 * else a hidden textarea and `document.execCommand('copy')` (plain-http JupyterLab, old browsers).
 */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the textarea
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  document.body.removeChild(area);
  return ok;
}

/** The Python a notebook cell needs to use this model (chat) or fetch this variant (pull). */
export function codeSnippet(model: string, variant: string | null, chat: boolean): string {
  const ref = variant ? `${model}:${variant}` : model;
  if (chat) {
    return [
      'import model_studio as ms',
      '',
      `answer = ms.engine().chat.complete("${ref}", [{"role": "user", "content": "Hello!"}])`,
      'print(answer["text"])'
    ].join('\n');
  }
  return `%studio pull ${model}${variant ? ` --quant ${variant}` : ''}`;
}
