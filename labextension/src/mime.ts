/**
 * Output renderers for what `wb.panel` displays when the kernel has not heard from this
 * extension yet (e.g. "Run All" queues the handshake behind the cells):
 * - PANEL_MIME holds the panel request, beside a text/plain note ("no extension here, shown
 *   inline below") that other frontends show instead; this renderer opens the panel.
 * - NOTE_MIME sits beside the inline widget view, which other frontends (VS Code, Colab)
 *   show; here it renders nothing, since the view is in the panel.
 */
import { IRenderMime } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import { Area, isArea } from './protocol';

export const PANEL_MIME = 'application/vnd.workbench.panel+json';
export const NOTE_MIME = 'application/vnd.workbench.fallback+json';

export interface IPanelRequest {
  key: string;
  title: string;
  area: Area;
  model_id: string;
  /** The requesting kernel's id ("" when unknown) and a unique id of the request. */
  kernel_id?: string;
  request_id?: string;
}

/** Opens the panel (or offers a button in `node`) for a request found in an output. */
export type PanelRequestHandler = (
  request: IPanelRequest,
  node: HTMLElement,
  fresh: boolean
) => void;

/** Whether some notebook kernel is executing right now. */
export type RunningProbe = () => boolean;

function parseRequest(data: unknown): IPanelRequest | null {
  const value = data as Partial<IPanelRequest> | undefined;
  if (
    !value ||
    typeof value.key !== 'string' ||
    typeof value.title !== 'string' ||
    typeof value.model_id !== 'string' ||
    !isArea(value.area)
  ) {
    return null;
  }
  return value as IPanelRequest;
}

class PanelRequestRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    private readonly _handler: PanelRequestHandler,
    private readonly _isRunning: RunningProbe
  ) {
    super();
    this.addClass('wb-lab-panel-link');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const request = parseRequest(model.data[PANEL_MIME]);
    if (!request) {
      this.node.textContent = 'workbench: malformed panel request';
      return;
    }
    this.node.replaceChildren();
    // Rendered while a cell runs (synchronously with the kernel's message), not from a saved
    // notebook: only then is the panel opened at once. The node is attached to its notebook
    // only after this returns, so the handler runs a moment later.
    const fresh = this._isRunning();
    window.setTimeout(() => this._handler(request, this.node, fresh), 0);
  }
}

class HiddenRenderer extends Widget implements IRenderMime.IRenderer {
  async renderModel(): Promise<void> {
    this.addClass('wb-lab-hidden');
  }
}

export function panelRendererFactory(
  handler: PanelRequestHandler,
  isRunning: RunningProbe
): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [PANEL_MIME],
    createRenderer: () => new PanelRequestRenderer(handler, isRunning)
  };
}

export const hiddenRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [NOTE_MIME],
  createRenderer: () => new HiddenRenderer()
};
