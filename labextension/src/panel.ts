/**
 * Panels that show one kernel widget each. A panel is keyed by its notebook and its key (the
 * title given to `wb.panel`), so showing the same key again replaces its content. The widget
 * is rendered through the notebook's own rendermime, whose widget manager holds the models of
 * that notebook's kernel: the same anywidget views as inline output.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { NotebookPanel } from '@jupyterlab/notebook';
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import { Panel, Widget } from '@lumino/widgets';

import { Area } from './protocol';

export const WIDGET_VIEW_MIME = 'application/vnd.jupyter.widget-view+json';

/** What a panel needs to be rebuilt after a page reload (saved by the layout restorer). */
export interface IPanelState {
  key: string;
  title: string;
  area: Area;
  path: string;
}

/** A short, stable DOM id for (notebook path, key): any characters may come from the kernel. */
export function panelId(path: string, key: string): string {
  let hash = 5381;
  for (const char of `${path}\u0000${key}`) {
    hash = ((hash * 33) ^ char.charCodeAt(0)) >>> 0;
  }
  return `wb-panel-${hash.toString(36)}`;
}

export class WorkbenchPanel extends Panel {
  constructor(readonly state: IPanelState) {
    super();
    this.id = panelId(state.path, state.key);
    this.addClass('wb-lab-panel');
    this.title.label = state.title;
    this.title.caption = `${state.title} (workbench, ${state.path})`;
    this.title.closable = true;
    this._message.addClass('wb-lab-message');
    this.addWidget(this._message);
  }

  /** Show a plain-text note instead of a view (waiting, kernel gone, error). */
  showMessage(text: string): void {
    this._output?.dispose();
    this._output = null;
    this._message.node.textContent = text;
    this._message.show();
  }

  /** Render widget model `modelId` with the notebook's rendermime. */
  showWidget(notebook: NotebookPanel, modelId: string): void {
    this._output?.dispose();
    const model = new OutputAreaModel({ trusted: true });
    this._output = new OutputArea({ model, rendermime: notebook.content.rendermime });
    this._output.addClass('wb-lab-output');
    model.add({
      output_type: 'display_data',
      data: { [WIDGET_VIEW_MIME]: { model_id: modelId, version_major: 2, version_minor: 1 } },
      metadata: {}
    });
    this._message.hide();
    this.addWidget(this._output);
    this.modelId = modelId;
  }

  modelId: string | null = null;
  private _message = new Widget();
  private _output: OutputArea | null = null;
}

/** Add `panel` to the shell (next to `notebook` in the main area), or just activate it. */
export function placePanel(
  app: JupyterFrontEnd,
  panel: WorkbenchPanel,
  notebook: NotebookPanel | null
): void {
  if (!panel.isAttached) {
    const { area } = panel.state;
    if (area === 'main') {
      const ref = notebook?.isAttached ? notebook.id : undefined;
      app.shell.add(panel, 'main', { mode: 'split-right', ref });
    } else {
      app.shell.add(panel, area, { rank: 900 });
    }
  }
  app.shell.activateById(panel.id);
}
