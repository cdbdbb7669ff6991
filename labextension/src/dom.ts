import { LabIcon } from '@jupyterlab/ui-components';

/** Small DOM helpers shared by the panel and the log viewer. */

/** An element with a class and, optionally, its text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** An icon as a decorative element: screen readers skip it. */
export function iconElement(icon: LabIcon): HTMLElement {
  const node = icon.element({ tag: 'span' });
  node.setAttribute('aria-hidden', 'true');
  return node;
}
