/**
 * @workbench/labextension: the Workbench sidebar (objects alive in the notebook's kernel)
 * and panels that show their views, through JupyterLab's public APIs only.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, InputDialog, Notification, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';

import { KernelConnection } from './connection';
import { hiddenRendererFactory, IPanelRequest, panelRendererFactory } from './mime';
import { IPanelState, panelId, placePanel, WorkbenchPanel } from './panel';
import { Area, isArea, KernelMessage } from './protocol';
import { WorkbenchSidebar } from './sidebar';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161"><rect x="3" y="4" width="4" height="16"/><rect x="10" y="9" width="4" height="11"/><rect x="17" y="13" width="4" height="7"/></g></svg>`;
const workbenchIcon = new LabIcon({ name: 'workbench:sidebar', svgstr: ICON_SVG });

const CMD = {
  sidebar: 'workbench:open-sidebar',
  open: 'workbench:open-object',
  exportFigure: 'workbench:export-figure',
  restore: 'workbench:restore-panel'
};
const GONE_TEXT =
  'The kernel that held this panel is gone (or has not imported workbench yet): ' +
  'run the notebook again to refill it.';

class Workbench {
  constructor(
    private readonly _app: JupyterFrontEnd,
    private readonly _notebooks: INotebookTracker
  ) {
    this.sidebar = new WorkbenchSidebar((name, area) => this.openObject(name, area));
    this.sidebar.title.icon = workbenchIcon;
    _notebooks.widgetAdded.connect((_, notebook) => this._track(notebook));
    _notebooks.currentChanged.connect(() => this._showCurrent());
    NotebookActions.executed.connect((_, { notebook }) => {
      const panel = this._notebooks.find(p => p.content === notebook);
      if (panel) {
        this._connection(panel).refresh();
      }
    });
  }

  readonly sidebar: WorkbenchSidebar;
  readonly panels = new WidgetTracker<WorkbenchPanel>({ namespace: 'workbench-panel' });

  openObject(name: string, area: Area): void {
    const notebook = this._notebooks.currentWidget;
    if (notebook) {
      this._connection(notebook).send({ type: 'open', name, area });
    }
  }

  /** The panel for `state`, created (with a waiting note) and placed if needed. */
  panelFor(state: IPanelState, notebook: NotebookPanel | null): WorkbenchPanel {
    const id = panelId(state.path, state.key);
    let panel = this.panels.find(p => p.id === id);
    if (!panel) {
      panel = new WorkbenchPanel(state);
      panel.title.icon = workbenchIcon;
      panel.showMessage(`Waiting for the kernel of ${state.path}…`);
      void this.panels.add(panel);
    }
    placePanel(this._app, panel, notebook);
    return panel;
  }

  /**
   * After a page reload: rebuild a panel from its saved state. The layout restorer waits for
   * this command, and the notebook is restored after it, so the kernel is asked in the
   * background.
   */
  restore(state: IPanelState): WorkbenchPanel {
    const panel = this.panelFor(state, null);
    void this._refill(panel);
    return panel;
  }

  private async _refill(panel: WorkbenchPanel): Promise<void> {
    const notebook = await this._waitForNotebook(panel.state.path);
    if (notebook) {
      await notebook.sessionContext.ready;
    }
    const connection = notebook && this._connection(notebook);
    if (!connection || !(await connection.ready())) {
      panel.showMessage(GONE_TEXT);
    } else {
      connection.send({ type: 'reopen', key: panel.state.key });
    }
  }

  /** A panel request found in an output (the kernel had not heard from us yet). */
  onPanelRequest(request: IPanelRequest, node: HTMLElement, fresh: boolean): void {
    const notebook =
      this._notebooks.find(p => p.node.contains(node)) ?? this._notebooks.currentWidget;
    if (!notebook) {
      return;
    }
    const button = document.createElement('button');
    button.className = 'wb-lab-panel-button';
    button.textContent = `Shown in the Workbench panel “${request.title}”`;
    const show = () => this._show(notebook, { type: 'show', ...request });
    button.addEventListener('click', show);
    node.replaceChildren(button);
    if (this._isNewRequest(request, notebook, fresh)) {
      show();
    }
  }

  /**
   * Open a request at once only if it is new: made by this notebook's kernel (which holds the
   * widget model; a saved notebook reopened later shows the link only) and not opened before
   * in this browser tab (outputs render again after a reload: the restorer has the panels).
   * Without a kernel id, `fresh` (rendered while a kernel was busy) decides.
   */
  private _isNewRequest(
    request: IPanelRequest,
    notebook: NotebookPanel,
    fresh: boolean
  ): boolean {
    const kernelId = notebook.sessionContext.session?.kernel?.id;
    const ours = request.kernel_id ? request.kernel_id === kernelId : fresh;
    const seenKey = 'workbench-panel-requests';
    const seen: string[] = JSON.parse(window.sessionStorage.getItem(seenKey) ?? '[]');
    const id = request.request_id ?? `${kernelId}:${request.model_id}`;
    if (!ours || seen.includes(id)) {
      return false;
    }
    seen.push(id);
    window.sessionStorage.setItem(seenKey, JSON.stringify(seen.slice(-200)));
    return true;
  }

  /** Whether a notebook kernel is busy (an output rendered now comes from a running cell). */
  anyKernelBusy(): boolean {
    let busy = false;
    this._notebooks.forEach(panel => {
      busy = busy || panel.sessionContext.session?.kernel?.status === 'busy';
    });
    return busy;
  }

  exportCurrent(): void {
    const panel = this.panels.currentWidget;
    const notebook = panel && this._notebooks.find(p => p.context.path === panel.state.path);
    if (!panel || !notebook) {
      Notification.warning('Workbench: select a Workbench panel to export its figure.');
      return;
    }
    void InputDialog.getText({
      title: 'Export the figure as (PDF, SVG or PNG, relative to the notebook kernel)',
      text: `${panel.state.title.replace(/[^\w.-]+/g, '_')}.pdf`
    }).then(answer => {
      if (answer.button.accept && answer.value) {
        this._connection(notebook).send({
          type: 'export',
          key: panel.state.key,
          path: answer.value
        });
      }
    });
  }

  async pickAndOpen(area: Area): Promise<void> {
    const notebook = this._notebooks.currentWidget;
    const names = notebook ? this._connection(notebook).objects.map(o => o.name) : [];
    if (!names.length) {
      Notification.warning('Workbench: the current notebook holds no workbench objects yet.');
      return;
    }
    const answer = await InputDialog.getItem({ title: 'Open in a Workbench panel', items: names });
    if (answer.button.accept && answer.value) {
      this.openObject(answer.value, area);
    }
  }

  private _connection(notebook: NotebookPanel): KernelConnection {
    let connection = this._connections.get(notebook);
    if (!connection) {
      connection = new KernelConnection(notebook.sessionContext);
      connection.received.connect((_, message) => this._onMessage(notebook, message));
      this._connections.set(notebook, connection);
      notebook.disposed.connect(() => {
        connection?.dispose();
        this._connections.delete(notebook);
      });
    }
    return connection;
  }

  private _track(notebook: NotebookPanel): void {
    const connection = this._connection(notebook);
    void notebook.sessionContext.ready.then(() => connection.refresh());
  }

  private _showCurrent(): void {
    const notebook = this._notebooks.currentWidget;
    if (!notebook) {
      this.sidebar.setObjects([], 'No notebook');
      return;
    }
    this.sidebar.setObjects(this._connection(notebook).objects, notebook.title.label);
  }

  private _onMessage(notebook: NotebookPanel, message: KernelMessage): void {
    const panel = (key: string) =>
      this.panels.find(p => p.id === panelId(notebook.context.path, key));
    switch (message.type) {
      case 'objects':
        if (notebook === this._notebooks.currentWidget) {
          this.sidebar.setObjects(message.items, notebook.title.label);
        }
        break;
      case 'show':
        this._show(notebook, message);
        break;
      case 'gone':
        panel(message.key)?.showMessage(`${GONE_TEXT} (${message.reason})`);
        break;
      case 'close':
        panel(message.key)?.dispose();
        break;
      case 'error': {
        const target = message.key === undefined ? undefined : panel(message.key);
        if (target) {
          target.showMessage(message.message);
        } else {
          Notification.error(`Workbench: ${message.message}`);
        }
        break;
      }
      case 'exported':
        Notification.success(`Workbench: figure written to ${message.path}`);
        break;
    }
  }

  private _show(notebook: NotebookPanel, message: IPanelRequest & { type: 'show' }): void {
    const area = isArea(message.area) ? message.area : 'main';
    const state = { key: message.key, title: message.title, area, path: notebook.context.path };
    const panel = this.panelFor(state, notebook);
    panel.showWidget(notebook, message.model_id);
    void this.panels.save(panel);
  }

  private async _waitForNotebook(path: string): Promise<NotebookPanel | null> {
    await this._notebooks.restored;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const found = this._notebooks.find(p => p.context.path === path);
      if (found) {
        return found;
      }
      await new Promise(resolve => setTimeout(resolve, 250));
    }
    return null;
  }

  private _connections = new Map<NotebookPanel, KernelConnection>();
}

function addCommands(app: JupyterFrontEnd, workbench: Workbench): void {
  app.commands.addCommand(CMD.sidebar, {
    label: 'Workbench: Show the Sidebar',
    execute: () => app.shell.activateById(workbench.sidebar.id)
  });
  app.commands.addCommand(CMD.open, {
    label: args => `Workbench: Open an Object in a Panel (${args.area ?? 'main'} area)`,
    execute: args => {
      const area = isArea(args.area) ? args.area : 'main';
      if (typeof args.name === 'string') {
        workbench.openObject(args.name, area);
        return;
      }
      return workbench.pickAndOpen(area);
    }
  });
  app.commands.addCommand(CMD.exportFigure, {
    label: "Workbench: Export the Current Panel's Figure",
    execute: () => workbench.exportCurrent()
  });
  app.commands.addCommand(CMD.restore, {
    label: 'Workbench: Restore a Panel',
    execute: args => workbench.restore(args as unknown as IPanelState)
  });
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@workbench/labextension:plugin',
  description: 'Workbench sidebar and panels for the objects of a notebook kernel.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const workbench = new Workbench(app, notebooks);
    // Rank below the widget renderer's (0), so these win over the inline view in a bundle.
    rendermime.addFactory(
      panelRendererFactory(
        (request, node, fresh) => workbench.onPanelRequest(request, node, fresh),
        () => workbench.anyKernelBusy()
      ),
      -10
    );
    rendermime.addFactory(hiddenRendererFactory, -10);
    app.shell.add(workbench.sidebar, 'left', { rank: 600 });
    addCommands(app, workbench);
    if (palette) {
      const category = 'Workbench';
      palette.addItem({ command: CMD.sidebar, category });
      palette.addItem({ command: CMD.open, category, args: { area: 'main' } });
      palette.addItem({ command: CMD.open, category, args: { area: 'right' } });
      palette.addItem({ command: CMD.exportFigure, category });
    }
    if (restorer) {
      restorer.add(workbench.sidebar, workbench.sidebar.id);
      void restorer.restore(workbench.panels, {
        command: CMD.restore,
        args: panel => ({ ...panel.state }),
        name: panel => panel.id
      });
    }
  }
};

export default plugin;
