/**
 * The Workbench sidebar: the workbench objects alive in the current notebook's kernel. Every
 * string from the kernel goes through `textContent` (a model may be named `<img onerror=..>`).
 */
import { Widget } from '@lumino/widgets';

import { Area, IKernelObject } from './protocol';

export type OpenHandler = (name: string, area: Area) => void;

function element(tag: string, className: string, text = ''): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

export function formatParams(params: number | null): string {
  if (params === null) {
    return '';
  }
  const units: [number, string][] = [
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'k']
  ];
  for (const [size, unit] of units) {
    if (params >= size) {
      return `${(params / size).toPrecision(3)}${unit} params`;
    }
  }
  return `${params} params`;
}

export class WorkbenchSidebar extends Widget {
  constructor(private readonly _onOpen: OpenHandler) {
    super();
    this.id = 'workbench-sidebar';
    this.addClass('wb-lab-sidebar');
    this.title.caption = 'Workbench: objects in the kernel';
    this.node.appendChild(element('h2', 'wb-lab-heading', 'Workbench'));
    this.node.appendChild(this._status);
    this.node.appendChild(this._list);
    this.setStatus('Open a notebook that imports workbench.');
  }

  setStatus(text: string): void {
    this._status.textContent = text;
  }

  /** Replace the list with `items` (grouped by kind, in the kernel's order). */
  setObjects(items: IKernelObject[], source: string): void {
    this._list.replaceChildren();
    this.setStatus(items.length ? source : `${source}: no workbench objects yet.`);
    for (const item of items) {
      this._list.appendChild(this._row(item));
    }
  }

  private _row(item: IKernelObject): HTMLElement {
    const row = element('li', 'wb-lab-item');
    row.dataset.name = item.name;
    row.dataset.kind = item.kind;
    const open = element('button', 'wb-lab-open');
    open.title = `Open ${item.name} in the main area`;
    open.appendChild(element('span', 'wb-lab-name', item.name));
    open.appendChild(element('span', 'wb-lab-kind', item.kind));
    open.appendChild(element('span', 'wb-lab-summary', item.summary));
    const params = formatParams(item.params);
    if (params) {
      open.appendChild(element('span', 'wb-lab-params', params));
    }
    open.addEventListener('click', () => this._onOpen(item.name, 'main'));
    const right = element('button', 'wb-lab-right', '⇥');
    right.title = `Open ${item.name} in the right area`;
    right.addEventListener('click', () => this._onOpen(item.name, 'right'));
    row.append(open, right);
    return row;
  }

  private _status = element('p', 'wb-lab-status');
  private _list = element('ul', 'wb-lab-list');
}
