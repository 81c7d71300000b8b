/** File helpers shared by the data pipeline: atomic, crash-safe writes. */
package dev.cria.data.io;
