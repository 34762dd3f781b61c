// Stable module and chunk ids (relative names, not hashes of where the checkout lives), so the
// committed bundle rebuilds byte for byte in any directory: labextension/check_bundle.sh relies on it.
module.exports = {
  optimization: { moduleIds: 'named', chunkIds: 'named' }
};
