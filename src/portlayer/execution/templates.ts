/**
 * One frozen template per container VM size (docs/container-vm.md, "Sizes"): an instant
 * clone cannot change the size of the RAM it resumes, so a size no template has yet gets
 * one, cold-booted to frozen on first use and reused by every later container of that
 * size. Found again by name by a restarted VCH, like the default template.
 */
import type { ImageDatastore } from '../storage/images/image-datastore';
import type { VchPlacement } from './placement';
import { DEFAULT_SIZE, sizeLabel, type VmSize } from './sizes';
import { discardStaleTemplates, ensureTemplate, type Template, type TemplateOptions } from './template';

export class Templates {
  /** By size label; a promise so that concurrent creates of a new size make ONE template. */
  private readonly bySize = new Map<string, Promise<Template>>();
  /** The settled ones, so that `forget` can tell which template an entry is. */
  private readonly made = new Map<string, Template>();

  private constructor(
    private readonly p: VchPlacement,
    private readonly ds: ImageDatastore,
    private readonly o: Omit<TemplateOptions, 'size'>,
    readonly defaultTemplate: Template,
  ) {
    this.bySize.set(sizeLabel(defaultTemplate.size), Promise.resolve(defaultTemplate));
    this.made.set(sizeLabel(defaultTemplate.size), defaultTemplate);
  }

  /** The attach server every template's clones dial. */
  get serialUri(): string {
    return this.o.serialUri;
  }

  /** Readies the default template (made now if missing) and removes templates of another bootstrap image or attach server. */
  static async open(p: VchPlacement, ds: ImageDatastore, o: Omit<TemplateOptions, 'size'>): Promise<Templates> {
    const first = await ensureTemplate(p, ds, { ...o, size: DEFAULT_SIZE });
    await discardStaleTemplates(p, o);
    return new Templates(p, ds, o, first);
  }

  /** The frozen template of this size: found, or made (~9–13 s of cold boot under TCG on the box). */
  forSize(size: VmSize): Promise<Template> {
    const key = sizeLabel(size);
    let t = this.bySize.get(key);
    if (!t) {
      t = ensureTemplate(this.p, this.ds, { ...this.o, size });
      this.bySize.set(key, t);
      const pending = t;
      pending.then(
        (made) => this.made.set(key, made),
        // A failed attempt is not remembered: the next create of the size tries again.
        () => {
          if (this.bySize.get(key) === pending) this.bySize.delete(key);
        },
      );
    }
    return t;
  }

  /** Drops a template that is gone from vSphere (an administrator deleted it): the next use finds or makes it again. */
  forget(template: Template): void {
    const key = sizeLabel(template.size);
    if (this.made.get(key)?.vm.value !== template.vm.value) return;
    this.made.delete(key);
    this.bySize.delete(key);
  }
}
