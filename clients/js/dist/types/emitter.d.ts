/** A small typed event emitter; a handler that throws never breaks the emitter's caller. */
export type Handler<T> = (value: T) => void;
export declare class Emitter<Events extends object> {
    private readonly handlers;
    /** Call `handler` on every `event`; returns a function that removes it. */
    on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void;
    off<K extends keyof Events>(event: K, handler: Handler<Events[K]>): void;
    /** True when some handler listens to `event`. */
    has<K extends keyof Events>(event: K): boolean;
    emit<K extends keyof Events>(event: K, value: Events[K]): void;
    clear(): void;
}
