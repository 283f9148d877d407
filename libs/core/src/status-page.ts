// A status page (the ring and memberlist pages, for instance) as a function of plain data: what it reads of
// a request in, what it answers out. The library that owns the state renders the page; the process mounts it
// on its HTTP server (@stave/server's `pageHandler` reads the form, bounded, and writes the response).

export interface PageRequest {
  method: string;
  /** The Accept header ('' when absent). */
  accept: string;
  query: URLSearchParams;
  /** The form fields of a POST (empty otherwise). */
  form: URLSearchParams;
}

/** A status and a body of one type, or a redirect (`location`). */
export interface PageResponse {
  status: number;
  contentType: 'text/html; charset=utf-8' | 'application/json' | 'text/plain; charset=utf-8';
  body: string;
  location?: string;
}

export type StatusPage = (req: PageRequest) => PageResponse | Promise<PageResponse>;
