//! The request as the runtime hands it over.

use worker::Request;

/// The runtime's request. The worker crate's `Request` is built only for a route that reads the
/// body: building it also copies `request.cf` and the URL out of JS again, about 20 µs a request
/// in the bench, which no read-only route needs (`Ctx` reads the URL, method and the few headers
/// every route uses straight from the raw request).
pub struct Incoming {
    raw: web_sys::Request,
    built: Option<Request>,
}

impl Incoming {
    pub fn new(raw: web_sys::Request) -> Self {
        Self { raw, built: None }
    }

    pub fn raw(&self) -> &web_sys::Request {
        &self.raw
    }

    /// The worker crate's view of the request, for reading its body and headers.
    pub fn request(&mut self) -> &mut Request {
        let raw = &self.raw;
        // `Clone::clone` copies the JS handle; the inherent `Request::clone` would tee the body.
        self.built
            .get_or_insert_with(|| Request::from(Clone::clone(raw)))
    }
}
