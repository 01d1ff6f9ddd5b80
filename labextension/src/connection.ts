/**
 * One comm per notebook kernel. Opening it is the handshake: the kernel registers the
 * target when `workbench` is imported, so before that the kernel closes the comm at once
 * and the connection tries again after the next cell execution.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import {
  COMM_TARGET,
  FrontendMessage,
  IKernelObject,
  KernelMessage,
  PROTOCOL_VERSION
} from './protocol';

export class KernelConnection {
  constructor(readonly sessionContext: ISessionContext) {
    sessionContext.kernelChanged.connect(this._reset, this);
    sessionContext.statusChanged.connect(this._onStatus, this);
  }

  /** Objects the kernel listed last (empty until the handshake succeeds). */
  get objects(): IKernelObject[] {
    return this._objects;
  }

  get isOpen(): boolean {
    return this._comm !== null;
  }

  /** Every message from the kernel. */
  get received(): ISignal<this, KernelMessage> {
    return this._received;
  }

  /** Open the comm if needed, else ask for the current list of objects. */
  refresh(): void {
    if (this._comm) {
      this.send({ type: 'list' });
    } else {
      this._open();
    }
  }

  /** Resolves once the comm is open, or with false when it could not be opened. */
  async ready(): Promise<boolean> {
    if (this._comm) {
      return true;
    }
    return this._open();
  }

  send(message: FrontendMessage): void {
    if (this._comm && !this._comm.isDisposed) {
      this._comm.send(message as any);
    }
  }

  dispose(): void {
    Signal.clearData(this);
    this._comm = null;
  }

  private _open(): Promise<boolean> {
    if (this._opening) {
      return this._opening;
    }
    const kernel = this.sessionContext.session?.kernel;
    if (!kernel || kernel.status === 'dead') {
      return Promise.resolve(false);
    }
    this._opening = this._openOn(kernel).finally(() => {
      this._opening = null;
    });
    return this._opening;
  }

  private async _openOn(kernel: Kernel.IKernelConnection): Promise<boolean> {
    const comm = kernel.createComm(COMM_TARGET);
    let answered: (ok: boolean) => void = () => undefined;
    const answer = new Promise<boolean>(resolve => (answered = resolve));
    comm.onMsg = msg => {
      this._comm = comm;
      answered(true);
      this._onMessage(msg.content.data as unknown as KernelMessage);
    };
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
        this._objects = [];
        this._received.emit({ type: 'objects', items: [] });
      }
      answered(false);
    };
    try {
      await comm.open({ type: 'hello', version: PROTOCOL_VERSION } as any).done;
    } catch {
      return false;
    }
    // The kernel answers `hello` with the object list; a closed comm means "not imported yet".
    return answer;
  }

  private _onMessage(message: KernelMessage): void {
    if (message.type === 'objects') {
      this._objects = message.items;
    }
    this._received.emit(message);
  }

  private _reset(): void {
    this._comm = null;
    this._objects = [];
    this._received.emit({ type: 'objects', items: [] });
  }

  private _onStatus(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'dead') {
      this._reset();
    }
  }

  private _comm: Kernel.IComm | null = null;
  private _opening: Promise<boolean> | null = null;
  private _objects: IKernelObject[] = [];
  private _received = new Signal<this, KernelMessage>(this);
}
