package dev.bollard.daemon.streaming;

/** The terminal size a client sends on the resize stream/channel. */
public record TerminalSize(int width, int height) {}
