"""The amikeeper Lambda function: the configuration beside this file, loaded once per container."""

import amikeeper

handler = amikeeper.lambda_handler("keeper.toml")
