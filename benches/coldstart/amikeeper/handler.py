# The same job with amikeeper: the one-line handler of the README, with keeper.toml beside it.
import amikeeper

handler = amikeeper.lambda_handler("keeper.toml")
