/**
 * Messages between the Workbench sidebar and the kernel (comm target `workbench.labext`).
 *
 * The frontend opens the comm (the handshake): the kernel marks the frontend as able to show
 * panels and answers with the objects it holds. Everything the kernel sends is data; names
 * and labels are shown with `textContent`, never parsed as HTML.
 */

export const COMM_TARGET = 'workbench.labext';
export const PROTOCOL_VERSION = 1;

/** One workbench object alive in the kernel, as listed in the sidebar. */
export interface IKernelObject {
  name: string;
  kind: string;
  summary: string;
  params: number | null;
}

/** Where a panel lives in the shell. */
export type Area = 'main' | 'right' | 'left';
export const AREAS: Area[] = ['main', 'right', 'left'];

/** A widget view to show in a panel: `key` names the panel (its title by default). */
export interface IShowMessage {
  type: 'show';
  key: string;
  title: string;
  area: Area;
  model_id: string;
}

export type KernelMessage =
  | { type: 'objects'; items: IKernelObject[] }
  | IShowMessage
  | { type: 'gone'; key: string; reason: string }
  | { type: 'close'; key: string }
  | { type: 'error'; key?: string; message: string }
  | { type: 'exported'; key: string; path: string };

export type FrontendMessage =
  | { type: 'hello'; version: number }
  | { type: 'list' }
  | { type: 'open'; name: string; area: Area }
  | { type: 'reopen'; key: string }
  | { type: 'export'; key: string; path: string };

export function isArea(value: unknown): value is Area {
  return typeof value === 'string' && (AREAS as string[]).includes(value);
}
