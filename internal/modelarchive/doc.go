// Package modelarchive recognises a Rasa model archive before it is accepted: at
// `model push`, at an upload to POST /api/models, and at `validate` for a model file
// kept in the declaration repository. Without it an 8-byte file is stored as a model
// and shows only after a promotion, as a Rasa server that never loads it.
//
// It sits below compose (validate) and modelserver (push, upload), so both accept the
// same archives and say the same thing about the ones they refuse.
package modelarchive
