//! [`ImageBuilderApi`] over `aws-sdk-imagebuilder`: the account's recipes and the AMIs they
//! build from, for a sweep whose inventory scan decides alone.

use amikeeper::backend::{AwsResult, ImageBuilderApi};
use amikeeper::model::{RecipeImage, Region};
use async_trait::async_trait;
use aws_sdk_imagebuilder::types::Ownership;

use crate::error::{invalid_response, read_all, sdk_error};
use crate::SdkAws;

const SERVICE: &str = "imagebuilder";

#[async_trait]
impl ImageBuilderApi for SdkAws {
    async fn list_recipe_images(&self, region: &Region) -> AwsResult<Vec<RecipeImage>> {
        let client = self.imagebuilder(region)?;
        let listing = client.list_image_recipes().owner(Ownership::SelfValue).into_paginator().items().send();
        let image_recipes = read_all(SERVICE, "ListImageRecipes", listing).await?;
        let mut recipes = Vec::new();
        for summary in &image_recipes {
            let arn =
                summary.arn().ok_or_else(|| invalid_response(SERVICE, "ListImageRecipes", "a recipe without arn"))?;
            recipes.push(RecipeImage {
                arn: arn.to_owned(),
                resource_type: "imagebuilder:ImageRecipe".to_owned(),
                image: summary.parent_image().unwrap_or_default().to_owned(),
            });
        }
        let listing = client.list_container_recipes().owner(Ownership::SelfValue).into_paginator().items().send();
        let container_recipes = read_all(SERVICE, "ListContainerRecipes", listing).await?;
        // The AMI a container recipe's build instances launch from is only in the recipe itself.
        for summary in &container_recipes {
            let arn = summary
                .arn()
                .ok_or_else(|| invalid_response(SERVICE, "ListContainerRecipes", "a recipe without arn"))?;
            let call = client.get_container_recipe().container_recipe_arn(arn);
            let recipe = call.send().await.map_err(sdk_error(SERVICE, "GetContainerRecipe"))?;
            let image = recipe
                .container_recipe()
                .and_then(|r| r.instance_configuration())
                .and_then(|c| c.image())
                .unwrap_or_default();
            recipes.push(RecipeImage {
                arn: arn.to_owned(),
                resource_type: "imagebuilder:ContainerRecipe".to_owned(),
                image: image.to_owned(),
            });
        }
        tracing::debug!(%region, recipes = recipes.len(), "listed Image Builder recipes");
        Ok(recipes)
    }
}
